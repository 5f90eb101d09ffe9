#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# guest-fuzz.sh: fuzz_diff_kernel inside the test bed guest (scripts/vfio-vm), the mock
# against the kernel it boots. Busybox sh; run from /job with the corpus copied there.
#
#   sh guest-fuzz.sh replay CORPUS             replay every input of CORPUS/ (exit 0: all agree)
#   sh guest-fuzz.sh fuzz CORPUS SECONDS [export]
#       libFuzzer for SECONDS seconds on a scratch copy of CORPUS/; then every crash input is
#       printed with its .vfs (converted here, so the expectations are this kernel's); with
#       `export`, every new corpus input too, for the host to merge (scripts/fuzz-campaign
#       --guest). Exit 1 when a crash was found.
#
# Host <-> guest: the guest has no shared directory, so files come back on the console as
#   GUEST-FILE <kind> <name>      kind: corpus, crash, vfs
#   <base64 lines>
#   GUEST-FILE-END
# which scripts/fuzz-campaign cuts out again (scripts/lib/guest_files.sh).
#
# Both runs set VFIOPIN_DIFF_REQUIRE_KERNEL=1 (no silent mock-vs-mock fallback) and reserve
# 8 huge pages: scenario_ops.hpp declares at most 8 MiB of hugetlb per input, and without
# them the kernel side prints `skip no-hugetlb` where the mock maps.
set -u
mode=${1:?usage: guest-fuzz.sh replay CORPUS | fuzz CORPUS SECONDS [export]}
corpus=${2:?missing CORPUS}
echo 8 >/proc/sys/vm/nr_hugepages
export VFIOPIN_DIFF_REQUIRE_KERNEL=1
echo "guest-fuzz: $(uname -r), hugepages $(cat /proc/sys/vm/nr_hugepages), test mdev: $(
  [ -d /sys/class/mdev_bus/vfiopin_test_mdev ] && echo loaded || echo MISSING)"

send() {  # send KIND FILE
  echo "GUEST-FILE $1 ${2##*/}"
  base64 "$2"
  echo "GUEST-FILE-END"
}

case $mode in
  replay)
    fuzz_diff_kernel_replay "$corpus"
    ;;
  fuzz)
    seconds=${3:?missing SECONDS}
    work=/tmp/diff-work
    art=/tmp/diff-artifacts
    mkdir -p "$work" "$art"
    cp "$corpus"/* "$work"/ 2>/dev/null
    fuzz_diff_kernel -max_total_time="$seconds" -timeout=30 -rss_limit_mb=512 \
      -print_final_stats=1 -artifact_prefix="$art/" "$work"
    rc=$?
    found=0
    for f in "$art"/*; do
      [ -f "$f" ] || continue
      found=1
      send crash "$f"
      VFIOPIN_TO_VFS="$f.vfs" fuzz_diff_kernel_replay "$f" >/dev/null 2>&1
      [ -f "$f.vfs" ] && { cat "$f.vfs"; send vfs "$f.vfs"; }
    done
    if [ "${4:-}" = export ]; then
      for f in "$work"/*; do
        [ -f "$corpus/${f##*/}" ] || send corpus "$f"
      done
    fi
    echo "guest-fuzz: libFuzzer exit $rc, crash inputs: $found"
    [ "$rc" -eq 0 ] && [ "$found" -eq 0 ]
    ;;
  *)
    echo "guest-fuzz: unknown mode $mode" >&2
    exit 2
    ;;
esac
