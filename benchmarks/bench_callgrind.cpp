// SPDX-License-Identifier: Apache-2.0
//
// vfiopin_bench_callgrind: fixed-iteration driver for instruction counts (and memory).
//
//   vfiopin_bench_callgrind [--tiny] WORKLOAD IMPL   set up, run once, print one result line
//   vfiopin_bench_callgrind [--tiny] --list          the WORKLOAD IMPL pairs
//   vfiopin_bench_callgrind [--tiny] --check         every case natively: checksums, the
//                                                    models' consistency checks, an rb-tree
//                                                    stress test; exit status 1 on a failure
//
// Under `valgrind --tool=callgrind --instr-atstart=no` only run() is instrumented
// (CALLGRIND_START/STOP_INSTRUMENTATION around it), so the reported total Ir is the measured
// part alone; divided by ops it is Ir per operation. Outside valgrind the macros do nothing.
// Memory: with VFIOPIN_BENCH_COUNT_HEAP=1 in the environment, the global operator new/delete
// count live blocks (a 16-byte header holds each block's size): live requested bytes, and
// what glibc would spend on them in chunks (request + 8, rounded up to 16, at least 32; an
// over-aligned block is counted the same, its alignment slack left out).
// Without it they are plain malloc/free plus one branch, so instruction counts carry no
// counting cost (run.sh takes Ir from a plain run and memory from a counting one).
#include "benchmarks/rbtree.hpp"
#include "benchmarks/workloads.hpp"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
namespace {
void instrumentation_start() { CALLGRIND_START_INSTRUMENTATION; }
void instrumentation_stop() { CALLGRIND_STOP_INSTRUMENTATION; }
}  // namespace
#else
namespace {
void instrumentation_start() {}
void instrumentation_stop() {}
}  // namespace
#endif

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <set>
#include <string_view>
#include <vector>

// ---- counting operator new -------------------------------------------------------------

namespace {

constexpr std::size_t header_bytes = 16;  // keeps the default new alignment (16)
vfiopin::bench::heap_stats live_heap;

/// Decided once, at the first allocation (before main), so every block of the process is
/// allocated and freed the same way.
bool counting() noexcept {
  static const bool on = [] {
    const char* v = std::getenv("VFIOPIN_BENCH_COUNT_HEAP");
    return v != nullptr && v[0] == '1';
  }();
  return on;
}

std::int64_t chunk_bytes(std::size_t n) noexcept {
  const std::size_t c = (n + 8 + 15) & ~std::size_t{15};
  return static_cast<std::int64_t>(c < 32 ? 32 : c);
}

/// Records a block of n bytes whose size is stored at `size_at`.
void count_block(unsigned char* size_at, std::size_t n) noexcept {
  std::memcpy(size_at, &n, sizeof n);
  live_heap.requested += static_cast<std::int64_t>(n);
  live_heap.chunks += chunk_bytes(n);
  ++live_heap.blocks;
}
/// Forgets the block whose size is stored at `size_at`.
void uncount_block(const unsigned char* size_at) noexcept {
  std::size_t n = 0;
  std::memcpy(&n, size_at, sizeof n);
  live_heap.requested -= static_cast<std::int64_t>(n);
  live_heap.chunks -= chunk_bytes(n);
  --live_heap.blocks;
}

void* counted_alloc(std::size_t n) noexcept {
  if (!counting()) return std::malloc(n == 0 ? 1 : n);
  auto* p = static_cast<unsigned char*>(std::malloc(n + header_bytes));
  if (p == nullptr) return nullptr;
  count_block(p, n);
  return p + header_bytes;
}

void counted_free(void* q) noexcept {
  if (q == nullptr) return;
  if (!counting()) {
    std::free(q);
    return;
  }
  unsigned char* p = static_cast<unsigned char*>(q) - header_bytes;
  uncount_block(p);
  std::free(p);
}

/// Over-aligned blocks (the mock's index leaves are cache-line aligned): the size sits in
/// the 16 bytes before the block, the block starts `align` bytes into the allocation.
void* counted_alloc_aligned(std::size_t n, std::size_t align) noexcept {
  const std::size_t body = (n + align - 1) / align * align;
  if (!counting()) return std::aligned_alloc(align, body == 0 ? align : body);
  auto* p = static_cast<unsigned char*>(std::aligned_alloc(align, align + body));
  if (p == nullptr) return nullptr;
  count_block(p + align - header_bytes, n);
  return p + align;
}

void counted_free_aligned(void* q, std::size_t align) noexcept {
  if (q == nullptr) return;
  if (!counting()) {
    std::free(q);
    return;
  }
  unsigned char* p = static_cast<unsigned char*>(q) - align;
  uncount_block(p + align - header_bytes);
  std::free(p);
}

vfiopin::bench::heap_stats read_heap() noexcept { return live_heap; }

}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = counted_alloc_aligned(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p, std::align_val_t a) noexcept {
  counted_free_aligned(p, static_cast<std::size_t>(a));
}
void operator delete[](void* p, std::align_val_t a) noexcept {
  counted_free_aligned(p, static_cast<std::size_t>(a));
}
void operator delete(void* p, std::size_t, std::align_val_t a) noexcept {
  counted_free_aligned(p, static_cast<std::size_t>(a));
}
void operator delete[](void* p, std::size_t, std::align_val_t a) noexcept {
  counted_free_aligned(p, static_cast<std::size_t>(a));
}

// ---- the driver ----------------------------------------------------------------------------

namespace {

using namespace vfiopin::bench;

const bench_case* find_case(std::string_view w, std::string_view impl) {
  for (const auto& c : all_cases())
    if (c.workload == w && c.impl == impl) return &c;
  return nullptr;
}

int run_one(const bench_case& c, const scale& s) {
  auto w = c.make(s);
  instrumentation_start();
  const std::uint64_t sum = w->run();
  instrumentation_stop();
  std::printf("workload=%.*s impl=%.*s ops=%llu checksum=%llu expected=%llu units=%llu "
              "heap_requested=%lld heap_chunks=%lld heap_blocks=%lld own_bytes=%llu\n",
              static_cast<int>(c.workload.size()), c.workload.data(),
              static_cast<int>(c.impl.size()), c.impl.data(),
              static_cast<unsigned long long>(w->ops), static_cast<unsigned long long>(sum),
              static_cast<unsigned long long>(c.comparable ? w->expected : sum),
              static_cast<unsigned long long>(w->units),
              static_cast<long long>(w->heap.requested), static_cast<long long>(w->heap.chunks),
              static_cast<long long>(w->heap.blocks), static_cast<unsigned long long>(w->own));
  return 0;
}

/// Random inserts and erases against std::set, checking the tree as it goes.
bool rbtree_stress() {
  struct node {
    rb_node link;
    std::uint64_t key = 0;
  };
  auto key_of = [](const rb_node* n) { return reinterpret_cast<const node*>(n)->key; };
  rb_root root;
  std::set<std::uint64_t> shadow;
  std::vector<node*> live;
  rng r(7);
  bool ok = true;
  for (int step = 0; step < 20000 && ok; ++step) {
    if (live.empty() || r.below(3) != 0) {
      const std::uint64_t k = r.below(1 << 20);
      if (!shadow.insert(k).second) continue;
      auto* n = new node;
      n->key = k;
      rb_node** slot = &root.node;
      rb_node* parent = nullptr;
      while (*slot != nullptr) {
        parent = *slot;
        slot = k < key_of(parent) ? &parent->left : &parent->right;
      }
      rb::link(&n->link, parent, slot);
      rb::insert_colour(&n->link, root);
      live.push_back(n);
    } else {
      const std::size_t i = static_cast<std::size_t>(r.below(live.size()));
      node* n = live[i];
      live[i] = live.back();
      live.pop_back();
      shadow.erase(n->key);
      rb::erase(&n->link, root);
      delete n;
    }
    if (step % 97 == 0) ok = rb::check(root, key_of);
  }
  std::size_t count = 0;
  rb::destroy(root, [&](rb_node* n) {
    ++count;
    delete reinterpret_cast<node*>(n);
  });
  return ok && count == shadow.size();
}

int check_all(const scale& s) {
  int failures = 0;
  auto report = [&](bool ok, std::string_view what, std::string_view a, std::string_view b) {
    std::printf("%s %.*s %.*s %.*s\n", ok ? "ok  " : "FAIL", static_cast<int>(what.size()),
                what.data(), static_cast<int>(a.size()), a.data(), static_cast<int>(b.size()), b.data());
    if (!ok) ++failures;
  };
  report(rbtree_stress(), "rbtree", "stress", "");
  for (const auto& c : all_cases()) {
    auto w = c.make(s);
    bool ok = w->consistent();
    for (int round = 0; round < 2 && ok; ++round) {  // twice: run() must be repeatable
      if (round != 0 && w->needs_reset()) w->reset();
      const std::uint64_t sum = w->run();
      ok = (!c.comparable || sum == w->expected) && w->consistent();
      if (!ok)
        std::printf("     checksum %llu expected %llu\n", static_cast<unsigned long long>(sum),
                    static_cast<unsigned long long>(w->expected));
    }
    report(ok, "case", c.workload, c.impl);
  }
  std::printf("%d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}

int usage() {
  std::fprintf(stderr,
               "usage: vfiopin_bench_callgrind [--tiny] WORKLOAD IMPL | --list | --check\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (counting()) heap_probe = read_heap;
  scale s = full_scale;
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--tiny") s = tiny_scale;
    else args.push_back(a);
  }
  if (args.size() == 1 && args[0] == "--list") {
    for (const auto& c : all_cases())
      std::printf("%.*s %.*s\n", static_cast<int>(c.workload.size()), c.workload.data(),
                  static_cast<int>(c.impl.size()), c.impl.data());
    return 0;
  }
  if (args.size() == 1 && args[0] == "--check") {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // every verdict line out before a crash
    return check_all(s);
  }
  if (args.size() != 2) return usage();
  const bench_case* c = find_case(args[0], args[1]);
  if (c == nullptr) {
    std::fprintf(stderr, "vfiopin_bench_callgrind: no case '%.*s %.*s' (see --list)\n",
                 static_cast<int>(args[0].size()), args[0].data(),
                 static_cast<int>(args[1].size()), args[1].data());
    return 2;
  }
  return run_one(*c, s);
}
