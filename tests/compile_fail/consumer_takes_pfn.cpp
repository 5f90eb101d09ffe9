// SPDX-License-Identifier: Apache-2.0
// Rule [consumer.no-pfn]: a consumer pins and gets page handles; one that tries to take
// pfns from vfio_pin_pages (as drivers did before Linux 6.0) does not compile, and the
// message names the rule.
// expect-error: vfiopin rule \[consumer\.no-pfn\]
// expect-error: never a pfn
#include <vfiopin/container.hpp>
#include <vfiopin/mock/process.hpp>
#include <vfiopin/mock/type1.hpp>

#include <array>

namespace {

using backend = vfiopin::mock::type1<vfiopin::mock::process>;

/// A GVT-g style consumer that wants raw frame numbers for its shadow table.
struct pfn_hungry_consumer {
  using consumer_tag = vfiopin::consumer_tag;
  static constexpr bool needs_pages = true;
  void on_dma_unmap(vfiopin::interval<vfiopin::iova>) noexcept {}

  bool shadow(vfiopin::consumer_registration<backend, pfn_hungry_consumer>& reg) {
    std::array<vfiopin::page_handle, 1> pages{};
    auto ok = reg.pin(vfiopin::iova(0x1000), vfiopin::page_count(1), vfiopin::prot::read_write,
                      std::span<vfiopin::page_handle>(pages));
#if defined(VFIOPIN_COMPILE_FAIL)
    std::array<vfiopin::pfn, 1> frames{};
    auto bad = reg.pin(vfiopin::iova(0x1000), vfiopin::page_count(1), vfiopin::prot::read_write,
                       std::span<vfiopin::pfn>(frames));
    return ok.has_value() && bad.has_value();
#else
    return ok.has_value();
#endif
  }
};

static_assert(vfiopin::consumer<pfn_hungry_consumer>);

}  // namespace

int main() {
  vfiopin::mock::process proc;
  vfiopin::container<backend> c(std::in_place, proc);
  pfn_hungry_consumer consumer;
  auto reg = c.add_consumer(consumer);
  return reg && consumer.shadow(*reg) ? 0 : 1;
}
