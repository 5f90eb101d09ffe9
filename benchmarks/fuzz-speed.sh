#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# benchmarks/fuzz-speed.sh: how fast the fuzz targets run, in one go, as a table.
#
# For each target (default: every fuzzer of the `fuzz` preset, fuzz_interval first as the
# same-run baseline):
#   1. libFuzzer with ASan+UBSan (the `fuzz` preset, build/fuzz), pinned to one CPU
#      (taskset), starting from a scratch copy of its committed corpus: -runs=N -seed=1
#      -timeout=1 -rss_limit_mb=2048. Executions come from libFuzzer's DONE line; CPU time
#      (user + sys) from getrusage of the fuzzer (GNU time). exec/CPU-s is the figure
#      that survives a loaded machine; wall exec/s is what libFuzzer prints and is shown
#      for reference. The ratio column is exec/CPU-s over fuzz_interval's in the same run.
#      "past seeds" leaves out libFuzzer's first execution of the starting corpus (its
#      INITED phase, with the corpus read and every seed's features recorded), which a
#      short run from a large corpus is mostly made of: a second run, -runs=1 from a copy
#      of the same starting corpus, measures that phase alone (its executions and CPU
#      time), and the column is (executions - those) / (CPU time - that).
#      With --warmup S, each target first fuzzes S seconds from its committed corpus
#      into the scratch corpus (not measured), and the measured runs start from that
#      grown corpus: the speed of a campaign past its first minutes, when few inputs are
#      new, rather than that of a fresh start, where writing new inputs and libFuzzer's
#      rare-feature bookkeeping take a large share.
#   2. Instructions per input of the target alone: the g++ replay build (the `dev`
#      preset's fuzzer executables, build/dev) under callgrind, counting only
#      LLVMFuzzerTestOneInput (--toggle-collect), over the committed corpus. Stable across
#      runs and machines; no libFuzzer, no sanitizer.
# The issue's target is fuzz_ops >= 10,000 exec/s on one core with ASan+UBSan on its own
# corpus; docs/fuzzing.md records the runs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
runs=20000
warmup=0
cpu=0
targets=()
callgrind=1

usage() {
  cat <<USAGE
usage: benchmarks/fuzz-speed.sh [--runs N] [--warmup S] [--cpu N] [--no-callgrind] [TARGET...]
  --runs N         libFuzzer executions per target (default $runs)
  --warmup S       fuzz S seconds first (not measured) and measure from the grown corpus
  --cpu N          the CPU to pin to (default 0)
  --no-callgrind   skip the instruction counts
  TARGET           fuzzer names (interval ops ...); default: all, interval first
USAGE
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --runs) runs=${2:?}; shift ;;
    --warmup) warmup=${2:?}; shift ;;
    --cpu) cpu=${2:?}; shift ;;
    --no-callgrind) callgrind=0 ;;
    -*) echo "fuzz-speed: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done

"$root/scripts/install-deps" build fuzz bench >/dev/null
cd "$root"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target vfiopin_fuzzers -j2 >/dev/null
if [[ $callgrind -eq 1 ]]; then
  cmake --preset dev >/dev/null
  cmake --build --preset dev --target vfiopin_fuzzers -j2 >/dev/null
fi

manifest=build/fuzz/fuzzers.tsv
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(interval)
  while IFS=$'\t' read -r name _; do
    [[ $name == interval ]] || targets+=("$name")
  done <"$manifest"
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
printf '| target | execs | CPU s | exec/CPU-s | past seeds | wall exec/s | vs interval | instructions/input |\n'
printf '|---|---|---|---|---|---|---|---|\n'
base=""
for t in "${targets[@]}"; do
  exe=build/fuzz/fuzz/fuzz_$t
  corpus=fuzz/corpus/$t
  [[ -x $exe ]] || { echo "fuzz-speed: no $exe" >&2; exit 1; }
  rm -rf "$scratch/c" && mkdir -p "$scratch/c"
  if [[ -d $corpus ]]; then cp "$corpus"/* "$scratch/c/" 2>/dev/null || true; fi
  dict=()
  [[ -f fuzz/dict/$t.dict ]] && dict=("-dict=fuzz/dict/$t.dict")
  if [[ $warmup -gt 0 ]]; then
    taskset -c "$cpu" "$exe" -max_total_time="$warmup" -seed=2 -timeout=1 -rss_limit_mb=2048 \
      "${dict[@]}" "$scratch/c" >"$scratch/warm.log" 2>&1 || true
  fi
  rm -rf "$scratch/c0" && cp -r "$scratch/c" "$scratch/c0"
  /usr/bin/time -f '%U %S' -o "$scratch/time" taskset -c "$cpu" "$exe" -runs="$runs" -seed=1 \
    -timeout=1 -rss_limit_mb=2048 "${dict[@]}" "$scratch/c" >"$scratch/log" 2>&1 || true
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$scratch/log" | tail -n 1 || true)
  [[ -n $done_line ]] || { echo "fuzz-speed: $t did not finish (see below)" >&2; tail -n 20 "$scratch/log" >&2; exit 1; }
  execs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$done_line")
  wall=$(sed -E 's/.*exec\/s: ([0-9]+).*/\1/' <<<"$done_line")
  read -r u s <"$scratch/time"
  cpu_s=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
  rate=$(awk -v n="$execs" -v c="$cpu_s" 'BEGIN { printf "%.0f", (c > 0 ? n / c : 0) }')
  /usr/bin/time -f '%U %S' -o "$scratch/time0" taskset -c "$cpu" "$exe" -runs=1 -seed=1 \
    -timeout=1 -rss_limit_mb=2048 "${dict[@]}" "$scratch/c0" >"$scratch/log0" 2>&1 || true
  seeds=$(grep -E '^#[0-9]+[[:space:]]+INITED' "$scratch/log0" | sed -E 's/^#([0-9]+).*/\1/' | tail -n 1)
  read -r u0 s0 <"$scratch/time0"
  past=$(awk -v n="$execs" -v k="${seeds:-0}" -v c="$cpu_s" -v u="$u0" -v s="$s0" \
    'BEGIN { d = c - (u + s); printf "%.0f", (d > 0 && n > k ? (n - k) / d : 0) }')
  [[ -n $base ]] || base=$rate
  ratio=$(awk -v r="$rate" -v b="$base" 'BEGIN { printf "%.3f", (b > 0 ? r / b : 0) }')
  ins="-"
  if [[ $callgrind -eq 1 && -x build/dev/fuzz/fuzz_$t && -d $corpus ]]; then
    n=$(find "$corpus" -type f | wc -l)
    valgrind --tool=callgrind --callgrind-out-file="$scratch/cg" \
      --toggle-collect=LLVMFuzzerTestOneInput "build/dev/fuzz/fuzz_$t" "$corpus" >/dev/null 2>&1
    total=$(callgrind_annotate "$scratch/cg" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
    ins=$(awk -v t="$total" -v n="$n" 'BEGIN { printf "%.0f", (n > 0 ? t / n : 0) }')
  fi
  printf '| fuzz_%s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$execs" "$cpu_s" "$rate" "$past" "$wall" "$ratio" "$ins"
done
printf '\n%s; %s CPUs, load average %s; runs=%s, pinned to CPU %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" \
  "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$runs" "$cpu"
