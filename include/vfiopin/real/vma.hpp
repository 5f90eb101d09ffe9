// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/real/vma.hpp: what kind of memory backs a vaddr range, from /proc/self/smaps.
//
// Theory of operation. The kernel decides per VMA whether memory has struct pages: GUP
// refuses a VMA flagged VM_IO or VM_PFNMAP (check_vma_flags), and type1 then follows the
// raw PFNs of a VM_PFNMAP VMA instead (vaddr_get_pfns -> follow_fault_pfn). Those frames
// are MMIO without struct pages (a device BAR) and must never reach a consumer as a page.
// /proc/self/smaps shows each VMA as a header line
//     start-end perms offset dev inode [path]      (hex, end exclusive)
// followed by "Key: value" lines, among them "VmFlags: rd wr mr ... pf io ..." with two
// letter codes: `pf` is VM_PFNMAP and `io` is VM_IO (proc(5), fs/proc/task_mmu.c).
//
// classify() walks a vaddr range across the VMAs it touches and answers
//   pages     every page is in a VMA with struct pages (anonymous, memfd, hugetlb, files);
//   pfn_map   every page is in a VM_PFNMAP or VM_IO VMA;
//   mixed     some of each;
//   unmapped  some page is in no VMA, or in one with no access at all ("---", a PROT_NONE
//             reservation such as the guard after every real memory region): GUP and
//             type1 fault on both alike (EFAULT).
//
// The file is read through the syscalls seam (open, then pread in 64 KiB chunks until end
// of file), and parsed defensively: a line that is neither a well-formed header nor a
// "Key:" line is errc::protocol_error; a file over 64 MiB is errc::too_big. The snapshot
// can be stale as soon as it is read; callers classify while the memory is held in place
// (type1 keeps a mapped range pinned).
#ifndef VFIOPIN_REAL_VMA_HPP
#define VFIOPIN_REAL_VMA_HPP

#include <vfiopin/error.hpp>
#include <vfiopin/real/sys.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/interval.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vfiopin::real {

inline constexpr const char* smaps_path = "/proc/self/smaps";

/// What backs a vaddr range (see the header comment).
enum class range_backing : std::uint8_t { pages, pfn_map, mixed, unmapped };

/// One VMA of /proc/self/smaps.
struct vma_info {
  interval<vaddr> range = interval<vaddr>::single(vaddr{});
  bool readable = false;
  bool writable = false;
  bool executable = false;
  bool pfn_map = false;  ///< VmFlags `pf` (VM_PFNMAP)
  bool io = false;       ///< VmFlags `io` (VM_IO)

  /// Some access is allowed (not a PROT_NONE reservation).
  [[nodiscard]] constexpr bool accessible() const noexcept {
    return readable || writable || executable;
  }
  /// No struct pages behind it, as far as GUP is concerned.
  [[nodiscard]] constexpr bool without_pages() const noexcept { return pfn_map || io; }
};

namespace detail {
[[nodiscard]] inline std::optional<std::uint64_t> parse_hex(std::string_view s) noexcept {
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

/// The next space-separated token of `line` from `pos`, advancing pos.
[[nodiscard]] inline std::string_view next_token(std::string_view line, std::size_t& pos) noexcept {
  while (pos < line.size() && line[pos] == ' ') ++pos;
  const std::size_t start = pos;
  while (pos < line.size() && line[pos] != ' ') ++pos;
  return line.substr(start, pos - start);
}

/// A header line "start-end perms ...", or nothing if it is not one.
[[nodiscard]] inline std::optional<vma_info> parse_vma_header(std::string_view line) noexcept {
  std::size_t pos = 0;
  const std::string_view span = next_token(line, pos);
  const std::string_view perms = next_token(line, pos);
  const std::size_t dash = span.find('-');
  if (dash == std::string_view::npos || perms.size() < 3) return std::nullopt;
  const auto start = parse_hex(span.substr(0, dash));
  const auto end = parse_hex(span.substr(dash + 1));
  if (!start || !end || *end <= *start) return std::nullopt;
  const auto r = interval<vaddr>::from_bounds(vaddr{*start}, vaddr{*end - 1});
  if (!r) return std::nullopt;
  vma_info v;
  v.range = *r;
  v.readable = perms[0] == 'r';
  v.writable = perms[1] == 'w';
  v.executable = perms[2] == 'x';
  return v;
}
}  // namespace detail

/// Parses the text of an smaps file. errc::protocol_error for a malformed line, or a
/// VMA that does not start after the previous one ends.
[[nodiscard]] inline result<std::vector<vma_info>> parse_smaps(std::string_view text) {
  std::vector<vma_info> vmas;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty()) continue;
    std::size_t pos = 0;
    const std::string_view key = detail::next_token(line, pos);
    if (!key.empty() && key.back() == ':') {  // "Key: value"
      if (key != "VmFlags:") continue;
      if (vmas.empty()) return unexpected(errc::protocol_error);
      for (std::string_view flag = detail::next_token(line, pos); !flag.empty();
           flag = detail::next_token(line, pos)) {
        if (flag == "pf") vmas.back().pfn_map = true;
        if (flag == "io") vmas.back().io = true;
      }
      continue;
    }
    auto v = detail::parse_vma_header(line);
    if (!v) return unexpected(errc::protocol_error);
    if (!vmas.empty() && v->range.first() <= vmas.back().range.last()) {
      return unexpected(errc::protocol_error);
    }
    vmas.push_back(*v);
  }
  return vmas;
}

/// Reads the whole of a /proc text file through the seam.
[[nodiscard]] inline result<std::string> read_proc_file(syscalls& sys, const char* path) {
  constexpr std::size_t chunk = 64 * 1024;
  constexpr std::size_t limit = 64 * 1024 * 1024;
  auto fd = open_fd(sys, path, O_RDONLY);
  if (!fd) return unexpected(fd.error());
  std::string text;
  for (;;) {
    const std::size_t at = text.size();
    if (at >= limit) return unexpected(errc::too_big);
    text.resize(at + chunk);
    const long r = sys.pread(fd->get(), text.data() + at, chunk, static_cast<off_t>(at));
    if (r == -EINTR) {
      text.resize(at);
      continue;
    }
    if (r < 0) return unexpected(sys_error(r));
    text.resize(at + static_cast<std::size_t>(r));
    if (r == 0) return text;
  }
}

/// The VMAs of this process.
[[nodiscard]] inline result<std::vector<vma_info>> read_vmas(syscalls& sys) {
  auto text = read_proc_file(sys, smaps_path);
  if (!text) return unexpected(text.error());
  return parse_smaps(*text);
}

/// Classifies `range` against VMAs sorted by address (as parse_smaps gives them).
[[nodiscard]] inline range_backing classify(std::span<const vma_info> vmas,
                                            interval<vaddr> range) noexcept {
  bool saw_pages = false;
  bool saw_pfn = false;
  vaddr at = range.first();
  for (const vma_info& v : vmas) {
    if (v.range.last() < at) continue;
    if (!v.range.contains(at) || !v.accessible()) return range_backing::unmapped;
    (v.without_pages() ? saw_pfn : saw_pages) = true;
    if (v.range.last() >= range.last()) {
      if (saw_pages && saw_pfn) return range_backing::mixed;
      return saw_pfn ? range_backing::pfn_map : range_backing::pages;
    }
    at = *v.range.next_after();  // v ends below range.last(), so not at the top
  }
  return range_backing::unmapped;
}

/// Classifies `range` of this process (reads /proc/self/smaps).
[[nodiscard]] inline result<range_backing> classify(syscalls& sys, interval<vaddr> range) {
  auto vmas = read_vmas(sys);
  if (!vmas) return unexpected(vmas.error());
  return classify(std::span<const vma_info>(*vmas), range);
}

}  // namespace vfiopin::real

#endif  // VFIOPIN_REAL_VMA_HPP
