// SPDX-License-Identifier: Apache-2.0
//
// examples/support/platform.hpp: one interface over the mock and the real test bed, so each
// example runs the same code on both (`--backend mock|vfio`).
//
// Theory of operation. An example needs a container, guest memory the VMM owns (with CPU
// access), a device BAR mmap (pfn-only memory) and a device that does DMA through the
// IOMMU, to check from outside the consumer that the bytes are where they should be:
//   mock_platform   mock::type1 over mock::process; mock group 0 is attached, so MAP_DMA
//                   fills an IOMMU domain, and "device DMA" walks that domain's page table
//                   (mock::type1::translate) to the frame's bytes, as tools/replay does;
//                   the BAR is a mock `bar` region.
//   vfio_platform   real::type1 on the first edu device's group (the QEMU test bed,
//                   docs/testbed.md); device DMA is real edu DMA through the emulated VT-d
//                   with a scratch page at IOVA 0x0ffff000 (real/edu.hpp); the BAR is edu's
//                   BAR0, mmapped by the driver.
// Both give: ram(kind, size) -> vaddr, cpu_read/cpu_write at a vaddr of such memory,
// dma_read/dma_write at an IOVA, bar() -> the BAR's vaddr and size, frame_of(vaddr) -> the
// frame the page is in (the mock's own table, or /proc/self/pagemap), used as an oracle,
// and bar_pin_error: what a consumer pin of a BAR page answers (the kernel model: EINVAL,
// as Linux 6.4+; the real backend's user-space pin: errc::not_page_backed).
// Device DMA must stay below 256 MiB of IOVA (edu's DMA mask) and avoid 0x0ffff000.
#ifndef VFIOPIN_EXAMPLES_SUPPORT_PLATFORM_HPP
#define VFIOPIN_EXAMPLES_SUPPORT_PLATFORM_HPP

#include <vfiopin/container.hpp>
#include <vfiopin/mock/process.hpp>
#include <vfiopin/mock/type1.hpp>
#include <vfiopin/real/device.hpp>
#include <vfiopin/real/edu.hpp>
#include <vfiopin/real/memory.hpp>
#include <vfiopin/real/pagemap.hpp>
#include <vfiopin/real/pci_sysfs.hpp>
#include <vfiopin/real/type1.hpp>

#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace example {

using namespace vfiopin;

/// Guest RAM kinds. `scattered` is anonymous memory whose pages are touched at once, and on
/// the mock allocated non-contiguously (mock::process::set_scatter).
enum class ram_kind { anon, memfd, hugetlb, scattered };

/// Counts failed expectations; an example exits non-zero when any failed.
struct checker {
  int failures = 0;
  bool operator()(bool ok, const char* what) {
    std::printf("%s  %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) ++failures;
    return ok;
  }
};

/// The memory type of the mock's BAR region: pfn-only, like real::bar_region.
struct mock_bar_memory {
  static constexpr backing_kind backing = backing_kind::pfn_only;
};

/// The mock: mock::type1 over mock::process, with mock group 0 attached.
class mock_platform {
 public:
  using backend = mock::type1<mock::process>;
  using memory = mock::process;         ///< what guest RAM is, as a type (mixed)
  using bar_memory = mock_bar_memory;  ///< what the BAR is, as a type (pfn-only)
  static constexpr std::string_view name = "mock";
  static constexpr errc bar_pin_error = errc::invalid_argument;

  static result<std::unique_ptr<mock_platform>> open() {
    auto p = std::unique_ptr<mock_platform>(new mock_platform());
    auto g = p->c_.attach(group_id{0});
    if (!g) return fail(g.error());
    p->group_ = std::move(*g);
    return p;
  }
  container<backend>& c() noexcept { return c_; }
  mock::process& process() noexcept { return proc_; }

  result<vaddr> ram(ram_kind k, byte_count size) {
    const auto kind = k == ram_kind::memfd     ? mock::region_kind::memfd
                      : k == ram_kind::hugetlb ? mock::region_kind::hugetlb
                                               : mock::region_kind::anon;
    auto va = proc_.map_region(kind, size, false);
    if (!va || k != ram_kind::scattered) return va;
    proc_.set_scatter(true);
    const std::vector<std::byte> zeros(size.value());
    auto w = proc_.write(*va, zeros);
    proc_.set_scatter(false);
    if (!w) return fail(w.error());
    return va;
  }
  result<void> cpu_write(vaddr at, std::span<const std::byte> b) { return proc_.write(at, b); }
  result<void> cpu_read(vaddr at, std::span<std::byte> b) { return proc_.read(at, b); }

  /// Device DMA through group 0's domain: an IOMMU fault reads zeros, drops writes.
  result<void> dma_read(iova at, std::span<std::byte> out) {
    for (std::size_t i = 0; i < out.size(); ++i) {
      const auto bytes = device_byte(at + byte_count(i), prot::read);
      out[i] = bytes ? *bytes : std::byte{0};
    }
    return {};
  }
  result<void> dma_write(iova at, std::span<const std::byte> in) {
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (auto* p = device_byte(at + byte_count(i), prot::write)) *p = in[i];
    }
    return {};
  }
  result<interval<vaddr>> bar() {
    if (!bar_) {
      auto v = proc_.map_region(mock::region_kind::bar, byte_count(1 << 20), false);
      if (!v) return fail(v.error());
      bar_ = *v;
    }
    return *interval<vaddr>::from(*bar_, byte_count(1 << 20));
  }
  std::optional<std::uint64_t> frame_of(vaddr va) {
    const auto f = proc_.frame_of(va);
    if (!f) return std::nullopt;
    return f->value();
  }

 private:
  mock_platform() = default;
  std::byte* device_byte(iova at, prot need) {
    const auto t = c_.backend().translate(group_id{0}, at);
    if (!t || !includes(t->access, need)) return nullptr;
    const auto bytes = proc_.frame_bytes(pfn(t->frame));
    return bytes.empty() ? nullptr : &bytes[at.value() % page_bytes];
  }
  mock::process proc_;
  container<backend> c_{std::in_place, proc_};
  group_attachment<backend> group_;
  std::optional<vaddr> bar_;
};

/// The real test bed: real::type1 on the first edu device's group, edu DMA.
class vfio_platform {
 public:
  using backend = real::type1;
  using memory = real::page_region;     ///< what guest RAM is, as a type (pages)
  using bar_memory = real::bar_region;  ///< what the BAR is, as a type (pfn-only)
  static constexpr std::string_view name = "vfio";
  static constexpr errc bar_pin_error = errc::not_page_backed;
  static constexpr iova scratch_iova{0x0ffff000};

  static result<std::unique_ptr<vfio_platform>> open() {
    auto devs = real::find_edu_devices();
    if (!devs) return fail(devs.error());
    if (devs->empty() || !devs->front().iommu_group) return fail(errc::no_device);
    const group_id gid{*devs->front().iommu_group};
    auto fd = real::open_container(iommu_type::type1v2);
    if (!fd) return fail(fd.error());
    auto p = std::unique_ptr<vfio_platform>(new vfio_platform(std::move(*fd)));
    auto g = p->c_.attach(gid);
    if (!g) return fail(g.error());
    p->group_ = std::move(*g);
    auto gfd = p->c_.backend().group_fd(gid);
    if (!gfd) return fail(errc::no_device);
    auto dev = real::device::open(*gfd, devs->front().address);
    if (!dev) return fail(dev.error());
    p->dev_.emplace(std::move(*dev));
    auto e = real::edu::open(*p->dev_);
    if (!e) return fail(e.error());
    p->edu_.emplace(std::move(*e));
    auto s = real::page_region::anon(page_size);
    if (!s) return fail(s.error());
    p->scratch_.emplace(std::move(*s));
    auto m = p->c_.map(scratch_iova, p->scratch_->base(), page_size, prot::read_write);
    if (!m) return fail(m.error());
    p->scratch_map_ = std::move(*m);
    return p;
  }
  vfio_platform(const vfio_platform&) = delete;
  vfio_platform& operator=(const vfio_platform&) = delete;
  ~vfio_platform() {
    scratch_map_ = {};
    regions_.clear();
    edu_.reset();  // the BAR mmap goes before the group leaves
  }
  container<backend>& c() noexcept { return c_; }

  result<vaddr> ram(ram_kind k, byte_count size) {
    const auto kind = k == ram_kind::memfd     ? real::page_region_kind::memfd
                      : k == ram_kind::hugetlb ? real::page_region_kind::hugetlb
                                               : real::page_region_kind::anon;
    auto r = real::page_region::create(kind, size);
    if (!r) return fail(r.error());
    if (k == ram_kind::scattered) std::memset(r->bytes().data(), 0, r->bytes().size());
    const vaddr base = r->base();
    regions_.push_back(std::move(*r));
    return base;
  }
  result<void> cpu_write(vaddr at, std::span<const std::byte> b) {
    auto p = cpu(at, b.size());
    if (!p) return fail(p.error());
    std::memcpy(*p, b.data(), b.size());
    return {};
  }
  result<void> cpu_read(vaddr at, std::span<std::byte> b) {
    auto p = cpu(at, b.size());
    if (!p) return fail(p.error());
    std::memcpy(b.data(), *p, b.size());
    return {};
  }
  result<void> dma_read(iova at, std::span<std::byte> out) {
    return edu_->read_from_iova(at, out, {scratch_iova, scratch_->bytes()});
  }
  result<void> dma_write(iova at, std::span<const std::byte> in) {
    return edu_->write_to_iova(at, in, {scratch_iova, scratch_->bytes()});
  }
  result<interval<vaddr>> bar() { return edu_->bar().range(); }
  std::optional<std::uint64_t> frame_of(vaddr va) {
    std::optional<page_frame> f[1];
    if (!real::read_frames(real::linux_syscalls(), align_down(va, page_bytes), page_count(1), f) || !f[0]) {
      return std::nullopt;
    }
    return f[0]->number();
  }
  /// The real region holding va (for typed access, e.g. real::page_at).
  const real::page_region* region_at(vaddr va) const {
    for (const auto& r : regions_)
      if (r.range().contains(va)) return &r;
    return nullptr;
  }

 private:
  explicit vfio_platform(real::unique_fd fd) : c_(std::in_place, std::move(fd), iommu_type::type1v2) {}
  /// The CPU address of [at, at + n) when it lies inside one of our regions.
  result<std::byte*> cpu(vaddr at, std::size_t n) {
    const real::page_region* r = region_at(at);
    if (r == nullptr || n > (r->range().last() - at).value() + 1) return fail(errc::bad_address);
    return r->bytes().data() + (at - r->base()).value();
  }
  container<backend> c_;
  group_attachment<backend> group_;
  std::optional<real::device> dev_;
  std::optional<real::edu> edu_;
  std::optional<real::page_region> scratch_;
  mapping<backend> scratch_map_;
  std::vector<real::page_region> regions_;
};

/// Runs body(platform) on the platform `--backend` names (default mock); the exit status.
template <class Body>
int run(int argc, char** argv, Body body) {
  std::string_view which = "mock";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string_view(argv[i]) == "--backend") which = argv[i + 1];
  auto go = [&](auto opened) -> int {
    if (!opened) {
      std::printf("FAIL  cannot open the %.*s platform: %s\n", static_cast<int>(which.size()),
                  which.data(), opened.error().message().c_str());
      return 1;
    }
    checker check;
    body(**opened, check);
    std::printf("%s: %d failed expectation(s)\n", check.failures == 0 ? "PASS" : "FAIL",
                check.failures);
    return check.failures == 0 ? 0 : 1;
  };
  if (which == "mock") return go(mock_platform::open());
  if (which == "vfio") return go(vfio_platform::open());
  std::printf("usage: %s [--backend mock|vfio]\n", argv[0]);
  return 2;
}

}  // namespace example

#endif  // VFIOPIN_EXAMPLES_SUPPORT_PLATFORM_HPP
