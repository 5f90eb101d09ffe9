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
# boot WHAT EXPECTED-BOOTS VFIO-VM-ARGS...: one vfio-vm run that must end with status 125
# after EXPECTED-BOOTS boots; its output stays in $out.
boot() {
  local what=$1 boots=$2 status
  shift 2
  "$vm" run --kernel "$kernel" --no-kmod --bin "$bin" --boot-attempts 2 "$@" >"$out" 2>&1
  status=$?
  cat "$out"
  [[ $status -eq 125 ]] || fail "$what: status $status, expected 125"
  [[ $(count '^vfio-vm: booting ') -eq $boots ]] ||
    fail "$what: $(count '^vfio-vm: booting ') boots, expected $boots"
}

boot "a guest that never boots" 2 \
  --qemu-arg -append --qemu-arg 'console=ttyS0 panic=-1 quiet rdinit=/nonexistent' -- true
grep -q '^vfio-vm: boot 1 of 2 failed before the command started (.*Kernel panic' "$out" ||
  fail "the first failed boot was not reported as such"

boot "a command that crashes the kernel" 1 -- sh -c 'echo c >/proc/sysrq-trigger'
grep -q '^vfio-vm: guest kernel panic: .*sysrq triggered crash' "$out" ||
  fail "the command's panic was not reported"
echo "boot-retry: a boot-time panic is retried, a panic under the command is its verdict"
