// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/memory.hpp: umbrella for the mock memory.
//
// The mock memory is the mapping process as type1 sees it. process.hpp (the mm: regions,
// CPU access, GUP, page_of, locked_vm; the memory_backend) is built from
// memory_region.hpp (regions and their placement), memory_object.hpp (anon, memfd and
// hugetlb objects, the fault handler), physmem.hpp (frames, struct pages, pins, zero page,
// device BAR) and memory_buffer.hpp (lazily zeroed host memory).
#ifndef VFIOPIN_MOCK_MEMORY_HPP
#define VFIOPIN_MOCK_MEMORY_HPP

#include <vfiopin/mock/memory_buffer.hpp>
#include <vfiopin/mock/memory_object.hpp>
#include <vfiopin/mock/memory_region.hpp>
#include <vfiopin/mock/physmem.hpp>
#include <vfiopin/mock/process.hpp>

#endif  // VFIOPIN_MOCK_MEMORY_HPP
