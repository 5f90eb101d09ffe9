#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# expect-kernel-bug.sh VFIO-VM-COMMAND...: runs a vfio-vm command line whose guest program
# provokes type1's BUG_ON(++retries > 10) (mdev_smoke --keep-pins) and judges the outcome.
#   - the guest program reported (vfio-vm exit status 0): pass; its own checks (the BUG in
#     the kernel log, 11 notifications, the task never returned) decided;
#   - otherwise pass only if the console shows the BUG in vfio_iommu_type1.c and then a
#     kernel panic: the oops took the whole guest down before the program could report,
#     which is also a kernel answer to a device that keeps its pins;
#   - anything else fails, with vfio-vm's status.
set -uo pipefail
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
[[ $status -eq 0 ]] && exit 0
if grep -q 'kernel BUG at drivers/vfio/vfio_iommu_type1.c' "$out" && grep -q 'Kernel panic' "$out"; then
  echo "expect-kernel-bug: the guest panicked after the expected type1 BUG: accepted"
  exit 0
fi
echo "expect-kernel-bug: vfio-vm exited $status without the expected BUG-then-panic" >&2
exit "$status"
