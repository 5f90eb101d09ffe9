// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/vfiopin.hpp: the umbrella header.
//
// vfiopin maps and pins memory for DMA over Linux VFIO type1 with the 2022 split in its
// types: consumers get page handles (memory with a struct page), only the IOMMU side
// holds pfns. Start with docs/design.md. This header pulls in the vocabulary types, the
// error model and the three concept families; it includes no Linux uAPI header.
#ifndef VFIOPIN_VFIOPIN_HPP
#define VFIOPIN_VFIOPIN_HPP

#include <vfiopin/concepts/concepts.hpp>
#include <vfiopin/config.hpp>
#include <vfiopin/error.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/types.hpp>
#include <vfiopin/version.hpp>

#endif  // VFIOPIN_VFIOPIN_HPP
