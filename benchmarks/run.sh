#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# benchmarks/run.sh: build the benchmarks, run them all in one go, print the results table.
#
# Steps: configure + build vfiopin_bench and vfiopin_bench_callgrind in an optimised tree of
# their own (default build/bench, RelWithDebInfo = the presets' build type, g++); run every
# case of the driver under callgrind with cache simulation (instruction counts, simulated
# L1d and L2 misses), then natively with its counting operator new (memory); run Google Benchmark
# (CPU time per operation, median and CV of repetitions, random interleaving, pinned to one
# CPU); join everything into a markdown report (benchmarks/report.awk) with the ratios to
# B0 and B1 and the verdict on each target. The report goes to stdout and to
# <build dir>/bench-results/report.md; raw data (callgrind.out files, cases.txt, wall.json)
# stays beside it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

build_dir="$root/build/bench"
build_type=RelWithDebInfo
compiler=g++
jobs=2
reps=5
min_time=0.1
run_wall=1
run_cg=1
filter=""

usage() {
  cat <<USAGE
usage: benchmarks/run.sh [options]
  --build-dir DIR     build tree (default build/bench)
  --build-type TYPE   RelWithDebInfo (default, as the presets) or Release
  --compiler CXX      default g++
  --jobs N            parallel callgrind runs (default 2; counts do not depend on it)
  --reps N            Google Benchmark repetitions (default 5)
  --min-time S        Google Benchmark min time per repetition (default 0.1)
  --filter REGEX      only cases whose "workload/impl" matches (extended regex)
  --no-wall           skip Google Benchmark
  --no-callgrind      skip callgrind
  --quick             --reps 3 --min-time 0.05
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --build-type) build_type="$2"; shift 2 ;;
    --compiler) compiler="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --min-time) min_time="$2"; shift 2 ;;
    --filter) filter="$2"; shift 2 ;;
    --no-wall) run_wall=0; shift ;;
    --no-callgrind) run_cg=0; shift ;;
    --quick) reps=3; min_time=0.05; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

log() { echo "run.sh: $*" >&2; }

# ---- build ---------------------------------------------------------------------------------

log "configuring $build_dir ($build_type, $compiler)"
cmake -S "$root" -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE="$build_type" -DCMAKE_CXX_COMPILER="$compiler" \
  -DVFIOPIN_BUILD_BENCHMARKS=ON -DVFIOPIN_BUILD_TESTS=OFF -DVFIOPIN_BUILD_FUZZERS=OFF \
  -DVFIOPIN_BUILD_EXAMPLES=OFF -DVFIOPIN_BUILD_TOOLS=OFF -DVFIOPIN_INSTALL=OFF >/dev/null
log "building"
cmake --build "$build_dir" --target vfiopin_bench vfiopin_bench_callgrind >/dev/null

driver="$build_dir/benchmarks/vfiopin_bench_callgrind"
wall="$build_dir/benchmarks/vfiopin_bench"
out="$build_dir/bench-results"
rm -rf "$out"
mkdir -p "$out/cg"

mapfile -t cases < <("$driver" --list | awk -v f="$filter" 'f == "" || ($1 "/" $2) ~ f')
[[ ${#cases[@]} -gt 0 ]] || { log "no case matches '$filter'"; exit 2; }

# ---- machine -------------------------------------------------------------------------------

{
  echo "date	$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "nproc	$(nproc)"
  echo "cpu	$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "cxx	$("$compiler" --version | head -n 1)"
  echo "build	$build_type"
  echo "benchmark	$(dpkg-query -W -f '${Version}' libbenchmark-dev 2>/dev/null || echo '?')"
  echo "valgrind	$(valgrind --version 2>/dev/null || echo 'not installed')"
  echo "load	$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "git	$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
} >"$out/machine.tsv"

# ---- callgrind -----------------------------------------------------------------------------

# Cache geometry fixed (not read from the host), so misses are comparable across machines:
# L1d 32 KiB 8-way, "LL" = a 1 MiB 16-way L2 (the last private level of the reference
# machine; a shared L3 is not modelled).
cg_case() {
  local w="$1" i="$2" f="$out/cg/$1.$2"
  valgrind --tool=callgrind --instr-atstart=no --cache-sim=yes \
    --I1=32768,8,64 --D1=32768,8,64 --LL=1048576,16,64 \
    --callgrind-out-file="$f.out" "$driver" "$w" "$i" >"$f.txt" 2>"$f.log"
}
export -f cg_case
export driver out

if [[ $run_cg -eq 1 ]]; then
  command -v valgrind >/dev/null || { log "valgrind is not installed (scripts/install-deps bench)"; exit 1; }
  log "callgrind: ${#cases[@]} cases, $jobs at a time"
  # shellcheck disable=SC2016  # $0 and $1 are expanded by the inner bash, per case
  printf '%s\n' "${cases[@]}" | xargs -P "$jobs" -L 1 bash -c 'cg_case "$0" "$1"' ||
    { log "a callgrind run failed: see $out/cg/*.log"; exit 1; }
fi

# ---- memory (native, counting operator new) and the per-case lines ------------------------

log "memory: ${#cases[@]} cases, natively with the counting allocator"
for c in "${cases[@]}"; do
  read -r w i <<<"$c"
  line="$(VFIOPIN_BENCH_COUNT_HEAP=1 "$driver" "$w" "$i")"
  if [[ -f "$out/cg/$w.$i.out" ]]; then
    # "events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw" and the matching "totals:" line; the
    # callgrind run's checksum must equal the native run's.
    awk -v line="$line" -v cg="$(cat "$out/cg/$w.$i.txt")" '
      /^events:/ { for (k = 2; k <= NF; ++k) ev[k] = $k }
      /^totals:/ { for (k = 2; k <= NF; ++k) v[ev[k]] = $k }
      END {
        match(cg, /checksum=[0-9]+/)
        printf "%s\tIr=%.0f\tD1m=%.0f\tL2m=%.0f\tcg_%s\n", line, v["Ir"], v["D1mr"] + v["D1mw"],
          v["DLmr"] + v["DLmw"], substr(cg, RSTART, RLENGTH)
      }' "$out/cg/$w.$i.out"
  else
    printf '%s\n' "$line"
  fi
done >"$out/cases.txt"

# ---- wall time -----------------------------------------------------------------------------

if [[ $run_wall -eq 1 ]]; then
  gb_filter="$(printf '%s\n' "${cases[@]}" | awk '{printf "%s^%s/%s$", (NR > 1 ? "|" : ""), $1, $2}')"
  pin=()
  if command -v taskset >/dev/null && [[ $(nproc) -gt 1 ]]; then pin=(taskset -c 1); fi
  log "Google Benchmark: $reps repetitions, min time $min_time s, ${pin[*]:-not pinned}"
  "${pin[@]}" "$wall" --benchmark_filter="$gb_filter" --benchmark_repetitions="$reps" \
    --benchmark_enable_random_interleaving=true --benchmark_min_time="$min_time" \
    --benchmark_report_aggregates_only=true --benchmark_out="$out/wall.json" \
    --benchmark_out_format=json >"$out/wall.txt" 2>&1
  # JSON: one key per line. Keep run_name, aggregate_name and the per_op counter.
  awk '
    /"run_name":/       { gsub(/[",]/, "", $2); name = $2 }
    /"aggregate_name":/ { gsub(/[",]/, "", $2); agg = $2 }
    /"per_op":/         { gsub(/[",]/, "", $2); if (agg == "median") med[name] = $2; if (agg == "cv") cv[name] = $2 }
    END { for (n in med) printf "%s\t%s\t%s\n", n, med[n], cv[n] }' "$out/wall.json" | sort >"$out/wall.tsv"
fi

# ---- report --------------------------------------------------------------------------------

touch "$out/wall.tsv"
awk -f "$here/report.awk" "$out/machine.tsv" "$out/cases.txt" "$out/wall.tsv" | tee "$out/report.md"
log "report: $out/report.md"
