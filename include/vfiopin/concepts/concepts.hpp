// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/concepts/concepts.hpp: umbrella for the three concept families.
//
// memory_backend.hpp (where frames come from), iommu_backend.hpp (a type1 container,
// mock or real), consumer.hpp (drivers that pin pages for CPU access).
#ifndef VFIOPIN_CONCEPTS_CONCEPTS_HPP
#define VFIOPIN_CONCEPTS_CONCEPTS_HPP

#include <vfiopin/concepts/consumer.hpp>
#include <vfiopin/concepts/iommu_backend.hpp>
#include <vfiopin/concepts/memory_backend.hpp>

#endif  // VFIOPIN_CONCEPTS_CONCEPTS_HPP
