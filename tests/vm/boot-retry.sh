#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# boot-retry.sh VFIO-VM KERNEL STATIC-PROGRAM: checks how scripts/vfio-vm judges a guest
# that dies (docs/testbed.md, "Boot failures"):
#   1. a kernel that panics while it boots (rdinit=/nonexistent, so no /init and no
#      VFIO-VM-START line) is booted again, --boot-attempts 2 times in all, then fails 125;
#   2. a panic after VFIO-VM-START (the command crashes the kernel through sysrq) is the
#      command's verdict: one boot, status 125, no second boot.
set -uo pipefail
vm=$1 kernel=$2 bin=$3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail() { echo "boot-retry: $*" >&2; exit 1; }
count() { grep -c -- "$1" "$out"; }

"$vm" run --kernel "$kernel" --no-kmod --bin "$bin" --boot-attempts 2 \
  --qemu-arg -append --qemu-arg 'console=ttyS0 panic=-1 quiet rdinit=/nonexistent' \
  -- true >"$out" 2>&1
status=$?
cat "$out"
[[ $status -eq 125 ]] || fail "a guest that never boots: status $status, expected 125"
[[ $(count '^vfio-vm: booting ') -eq 2 ]] || fail "a guest that never boots: $(count '^vfio-vm: booting ') boots, expected 2"
grep -q '^vfio-vm: boot 1 of 2 failed before the command started (.*Kernel panic' "$out" ||
  fail "the first failed boot was not reported as such"

"$vm" run --kernel "$kernel" --no-kmod --bin "$bin" --boot-attempts 2 \
  -- sh -c 'echo c >/proc/sysrq-trigger' >"$out" 2>&1
status=$?
cat "$out"
[[ $status -eq 125 ]] || fail "a command that crashes the kernel: status $status, expected 125"
[[ $(count '^vfio-vm: booting ') -eq 1 ]] || fail "a command that crashes the kernel was booted again"
grep -q '^vfio-vm: guest kernel panic: .*sysrq triggered crash' "$out" ||
  fail "the command's panic was not reported"
echo "boot-retry: a boot-time panic is retried, a panic under the command is its verdict"
