// SPDX-License-Identifier: Apache-2.0
//
// fuzz_fail_nth: fuzz_ops with one injected failure (issue: fuzzing target 3).
//
// Theory of operation. The input is fuzz_ops' configuration byte, then two bytes: the
// operation k that fails (modulo the number of operations, so every k hits one) and its
// fallible step n (1..254, small n most often: ops::decode_fail_step), then fuzz_ops'
// operations. The mock's fault injector fails step n of operation k alone (with the errno
// the kernel gives for that step); the failed operation must leave the container exactly
// as before it, and every fuzz_ops property holds around it, teardown included (nothing
// leaks).
// See fuzz_ops.cpp's header, "Fail-nth mode". Operations past k run unarmed, so an
// unwinding bug that corrupts state shows up in the invariants of the steps after it.
#define VFIOPIN_FUZZ_OPS_FAIL_NTH 1
#include "fuzz_ops.cpp"  // NOLINT(bugprone-suspicious-include): one executor, two targets
