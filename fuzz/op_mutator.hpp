// SPDX-License-Identifier: Apache-2.0
//
// op_mutator: operation-level mutations for fuzz_ops, fuzz_fail_nth and fuzz_diff_ref, as a
// libFuzzer custom mutator.
//
// Theory of operation. An input is a header (the configuration byte, and fail-nth's two
// bytes) followed by operations, each a variable number of bytes (op_decoder.hpp).
// libFuzzer's byte mutations change operands well, but they rarely build a sequence whose
// steps bring no new coverage one by one, such as two mappings, a VADDR unmap of the
// second, then one over both: inserting or erasing bytes shifts every later operation.
// mutate() first finds the operations' byte ranges by decoding the input (decoding reads
// bytes only), then, half of the time, applies one whole-operation mutation:
//   duplicate  a copy of operation i inserted at a random operation boundary;
//   erase      operation i removed;
//   swap       operations i and i + 1 exchanged;
//   rewrite    operation i's bytes alone handed to LLVMFuzzerMutate (its kind or operands
//              change, every other operation keeps its bytes);
//   variant    a copy of operation i, rewritten so, inserted at a random boundary: a
//              second mapping next to the first, a second VADDR unmap over both;
// and otherwise (or when the result would exceed max_size) hands the input to
// LLVMFuzzerMutate, libFuzzer's own mutator. The header is never touched by the first
// three. Without libFuzzer (the replay builds) LLVMFuzzerMutate is absent: the input is
// returned unchanged, and nothing calls the custom mutator anyway.
#ifndef VFIOPIN_FUZZ_OP_MUTATOR_HPP
#define VFIOPIN_FUZZ_OP_MUTATOR_HPP

#include "fuzz_input.hpp"
#include "op_decoder.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size)
    __attribute__((weak));

namespace vfiopin::fuzz::ops {

/// Byte offsets where each operation starts, and the end of the last one, for an input
/// whose first `header` bytes are not operations.
[[nodiscard]] inline std::vector<std::size_t> op_boundaries(const std::uint8_t* data,
                                                           std::size_t size, std::size_t header) {
  std::vector<std::size_t> at;
  if (size <= header) return at;
  fuzz_input in(data + header, size - header);
  at.push_back(header);
  while (at.size() <= max_ops && !in.empty()) {
    (void)decode_op(in);
    at.push_back(size - in.remaining());
  }
  return at;
}

/// One mutation of data[0, size) in place (see the header comment); the new size.
[[nodiscard]] inline std::size_t mutate(std::uint8_t* data, std::size_t size,
                                        std::size_t max_size, unsigned seed, std::size_t header) {
  std::minstd_rand rng(seed);
  const auto bytes_mutate = [&] {
    return LLVMFuzzerMutate != nullptr ? LLVMFuzzerMutate(data, size, max_size) : size;
  };
  const std::vector<std::size_t> at = op_boundaries(data, size, header);
  const std::size_t ops_n = at.empty() ? 0 : at.size() - 1;
  if (ops_n == 0 || rng() % 2 == 0) return bytes_mutate();
  const std::size_t i = rng() % ops_n;
  const std::size_t first = at[i];
  const std::size_t len = at[i + 1] - first;
  std::vector<std::uint8_t> out(data, data + size);
  // Operation i's bytes through libFuzzer's mutator on their own (room for a few more).
  const auto rewritten = [&] {
    std::vector<std::uint8_t> op(data + first, data + first + len);
    if (LLVMFuzzerMutate == nullptr) return op;
    const std::size_t room = len + 8;
    op.resize(room);
    op.resize(LLVMFuzzerMutate(op.data(), len, room));
    return op;
  };
  switch (rng() % 5) {
    case 0: {  // duplicate operation i at a boundary
      if (size + len > max_size) return bytes_mutate();
      const std::size_t to = at[rng() % (ops_n + 1)];
      const std::vector<std::uint8_t> copy(data + first, data + first + len);
      out.insert(out.begin() + static_cast<std::ptrdiff_t>(to), copy.begin(), copy.end());
      break;
    }
    case 1:  // erase operation i
      out.erase(out.begin() + static_cast<std::ptrdiff_t>(first),
                out.begin() + static_cast<std::ptrdiff_t>(first + len));
      break;
    case 3: {  // rewrite operation i in place
      const std::vector<std::uint8_t> op = rewritten();
      if (size - len + op.size() > max_size) return bytes_mutate();
      out.erase(out.begin() + static_cast<std::ptrdiff_t>(first),
                out.begin() + static_cast<std::ptrdiff_t>(first + len));
      out.insert(out.begin() + static_cast<std::ptrdiff_t>(first), op.begin(), op.end());
      break;
    }
    case 4: {  // a rewritten copy of operation i at a boundary
      const std::vector<std::uint8_t> op = rewritten();
      if (size + op.size() > max_size) return bytes_mutate();
      const std::size_t to = at[rng() % (ops_n + 1)];
      out.insert(out.begin() + static_cast<std::ptrdiff_t>(to), op.begin(), op.end());
      break;
    }
    default: {  // swap operations i and i + 1
      if (i + 1 >= ops_n) return bytes_mutate();
      const std::size_t len2 = at[i + 2] - at[i + 1];
      std::rotate(out.begin() + static_cast<std::ptrdiff_t>(first),
                  out.begin() + static_cast<std::ptrdiff_t>(at[i + 1]),
                  out.begin() + static_cast<std::ptrdiff_t>(at[i + 1] + len2));
      break;
    }
  }
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

/// LLVMFuzzerCustomMutator's body for an input of the configuration byte, `extra` more
/// header bytes (fail-nth's k and n), then operations.
[[nodiscard]] inline std::size_t mutate_ops_input(std::uint8_t* data, std::size_t size,
                                                  std::size_t max_size, unsigned seed,
                                                  std::size_t extra = 0) {
  fuzz_input in(data, size);
  (void)decode_config(in);
  for (std::size_t i = 0; i < extra; ++i) (void)in.draw<std::uint8_t>();
  return mutate(data, size, max_size, seed, size - in.remaining());
}

}  // namespace vfiopin::fuzz::ops

#endif  // VFIOPIN_FUZZ_OP_MUTATOR_HPP
