// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/types/types.hpp: umbrella for the vocabulary types.
//
// count.hpp (byte_count, page_count), address.hpp (iova, vaddr), page.hpp (page size,
// alignment), pfn.hpp (pfn, page_frame), interval.hpp (closed intervals), prot.hpp,
// page_handle.hpp, dma.hpp (the type1 requests and replies).
#ifndef VFIOPIN_TYPES_TYPES_HPP
#define VFIOPIN_TYPES_TYPES_HPP

#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/dma.hpp>
#include <vfiopin/types/interval.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/page_handle.hpp>
#include <vfiopin/types/pfn.hpp>
#include <vfiopin/types/prot.hpp>

#endif  // VFIOPIN_TYPES_TYPES_HPP
