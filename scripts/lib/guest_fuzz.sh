# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# guest_fuzz.sh: the real-kernel differential fuzzer (fuzz_diff_kernel) inside the QEMU test
# bed, for scripts/fuzz-campaign --guest. Sourced; needs VFIOPIN_ROOT (lib/common.sh).
#
# The guest fuzzer is a static libFuzzer build (tests/vm/CMakeLists.txt: target
# fuzz_diff_kernel_guest, clang++-19 without sanitizers) plus the static replay build that
# converts crash inputs in the guest. fuzz/guest-fuzz.sh runs there; the guest has no
# shared directory, so new corpus inputs, crash inputs and their .vfs come back on the
# console as GUEST-FILE blocks (base64), which guest_fuzz_collect cuts out.

# guest_fuzz_build BUILD_DIR: configure BUILD_DIR (preset dev, VFIOPIN_VM_TESTS=ON) and build
# the two guest programs. Sets GUEST_FUZZER and GUEST_REPLAY.
guest_fuzz_build() {
  local dir=$1
  (cd "$VFIOPIN_ROOT" && cmake --preset dev -B "$dir" -DVFIOPIN_VM_TESTS=ON >/dev/null) || return 1
  cmake --build "$dir" -j "${VFIOPIN_JOBS:-2}" \
    --target fuzz_diff_kernel_replay-static fuzz_diff_kernel_guest || return 1
  GUEST_FUZZER="$dir/tests/vm/fuzz_diff_kernel-static"
  GUEST_REPLAY="$dir/tests/vm/fuzz_diff_kernel_replay-static"
  [[ -x $GUEST_FUZZER && -x $GUEST_REPLAY ]] || {
    echo "guest_fuzz: $GUEST_FUZZER not built (needs clang++-19 with libFuzzer)" >&2
    return 1
  }
}

# guest_fuzz_start DIR KERNEL SECONDS: boots the guest in the background (own process group)
# fuzzing for SECONDS on a copy of fuzz/corpus/diff_kernel; console in DIR/console.log.
# Sets GUEST_PID.
guest_fuzz_start() {
  local dir=$1 kernel=$2 seconds=$3
  mkdir -p "$dir/artifacts" "$dir/corpus"
  # The guest boots in 10-20 s and converts crash inputs at the end: leave it room.
  local timeout=$((seconds + 240))
  (exec setsid "$VFIOPIN_ROOT/scripts/vfio-vm" run --kernel "$kernel" --timeout "$timeout" \
    --bin "$GUEST_FUZZER" --bin "$GUEST_REPLAY" \
    --files "$VFIOPIN_ROOT/fuzz/corpus/diff_kernel" --files "$VFIOPIN_ROOT/fuzz/guest-fuzz.sh" \
    -- sh guest-fuzz.sh fuzz diff_kernel "$seconds" export >"$dir/console.log" 2>&1 </dev/null) &
  GUEST_PID=$!
}

# guest_fuzz_collect DIR: writes every GUEST-FILE block of DIR/console.log to DIR/corpus/
# (kind corpus) or DIR/artifacts/ (crash, vfs). Prints the number of corpus files.
guest_fuzz_collect() {
  local dir=$1
  tr -d '\r' <"$dir/console.log" | awk -v dir="$dir" '
    /^GUEST-FILE-END$/ { if (out != "") close(out); out = ""; next }
    /^GUEST-FILE / {
      where = ($2 == "corpus") ? "corpus" : "artifacts"
      name = $3; gsub(/[^A-Za-z0-9._-]/, "_", name)
      out = dir "/" where "/" name ".b64"; printf "" > out; next
    }
    out != "" { print >> out }'
  local f
  for f in "$dir"/corpus/*.b64 "$dir"/artifacts/*.b64; do
    [[ -f $f ]] || continue
    base64 -d "$f" >"${f%.b64}" 2>/dev/null || rm -f "${f%.b64}"
    rm -f "$f"
  done
  find "$dir/corpus" -type f | wc -l
}
