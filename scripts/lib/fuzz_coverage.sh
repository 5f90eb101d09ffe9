# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# The llvm-cov line-coverage report of scripts/fuzz-campaign (sourced after lib/common.sh).
#
# fuzz_coverage_report BUILD_DIR REPORT_DIR NAME DIR [NAME DIR]...
#   1. configures BUILD_DIR from the `clang` preset (clang++-19) as a replay build of the
#      fuzzers only: VFIOPIN_FUZZ_LINKMAIN=ON (standalone_main.cpp, no libFuzzer, no
#      sanitizers), -O0 with -fprofile-instr-generate -fcoverage-mapping; builds
#      vfiopin_fuzzers (log: REPORT_DIR/build.log);
#   2. reads BUILD_DIR/fuzzers.tsv and, for each NAME DIR pair, replays every file under DIR
#      through fuzz_NAME once, one raw profile per process (REPORT_DIR/profraw/, replay log
#      REPORT_DIR/replay.log). A NAME may come several times (committed and working corpus);
#      a missing DIR is skipped;
#   3. merges the profiles (llvm-profdata-19) and writes the HTML report of the lines of
#      include/vfiopin/** to REPORT_DIR/html/index.html (llvm-cov-19 show), every replayed
#      fuzzer's coverage together.
# Sets COVERAGE_SUMMARY to one line: lines covered, percentage and the report's path, or
# what failed. Returns 0 when the report was written, 1 otherwise. A replay that fails (a
# crashing input) leaves that process's profile out, so the report is written but the
# summary says it is incomplete.

fuzz_coverage_report() {
  local build=$1 report=$2
  shift 2
  COVERAGE_SUMMARY="coverage: failed"
  local llvm_cov=llvm-cov-19 llvm_profdata=llvm-profdata-19 tool
  for tool in "$llvm_cov" "$llvm_profdata" clang++-19; do
    if ! command -v "$tool" >/dev/null; then
      COVERAGE_SUMMARY="coverage: $tool missing (scripts/install-deps fuzz)"
      return 1
    fi
  done
  rm -rf "$report"
  mkdir -p "$report/profraw"

  if ! (cd "$VFIOPIN_ROOT" &&
    cmake --preset clang -B "$build" -DCMAKE_BUILD_TYPE=Debug \
      "-DCMAKE_CXX_FLAGS=-O0 -fprofile-instr-generate -fcoverage-mapping" \
      -DVFIOPIN_FUZZ_LINKMAIN=ON -DVFIOPIN_SANITIZE= -DVFIOPIN_BUILD_FUZZERS=ON \
      -DVFIOPIN_BUILD_TESTS=OFF -DVFIOPIN_BUILD_EXAMPLES=OFF -DVFIOPIN_BUILD_BENCHMARKS=OFF \
      -DVFIOPIN_BUILD_TOOLS=OFF -DVFIOPIN_INSTALL=OFF &&
    cmake --build "$build" --target vfiopin_fuzzers --parallel "$VFIOPIN_JOBS") \
    >"$report/build.log" 2>&1; then
    COVERAGE_SUMMARY="coverage: the coverage build failed (log: $report/build.log)"
    return 1
  fi

  local -A exe_of=()
  local name exe
  while IFS=$'\t' read -r name _ exe _; do
    [[ -n $name ]] && exe_of[$name]=$exe
  done <"$build/fuzzers.tsv"

  local -a objects=()
  local failed=() dir inputs=0
  while [[ $# -ge 2 ]]; do
    name=$1 dir=$2
    shift 2
    [[ -d $dir && -n ${exe_of[$name]:-} ]] || continue
    inputs=$((inputs + $(find "$dir" -type f | wc -l)))
    if ! LLVM_PROFILE_FILE="$report/profraw/$name-%p.profraw" "${exe_of[$name]}" "$dir" \
      >>"$report/replay.log" 2>&1; then
      failed+=("$name:$dir")
    fi
    [[ " ${objects[*]} " == *" ${exe_of[$name]} "* ]] || objects+=("${exe_of[$name]}")
  done

  local profiles=("$report"/profraw/*.profraw)
  if [[ ${#objects[@]} -eq 0 || ! -e ${profiles[0]} ]]; then
    COVERAGE_SUMMARY="coverage: no corpus replayed, no profile (log: $report/replay.log)"
    return 1
  fi
  local profile=$report/fuzzers.profdata
  if ! "$llvm_profdata" merge -sparse -o "$profile" "${profiles[@]}" >>"$report/replay.log" 2>&1; then
    COVERAGE_SUMMARY="coverage: llvm-profdata merge failed (log: $report/replay.log)"
    return 1
  fi

  # The first object is positional, the others -object; the sources: the library headers.
  local cov_args=(-instr-profile="$profile" "${objects[0]}")
  for exe in "${objects[@]:1}"; do
    cov_args+=(-object "$exe")
  done
  cov_args+=("$VFIOPIN_ROOT/include/vfiopin")
  if ! "$llvm_cov" show -format=html -output-dir="$report/html" -project-title=vfiopin \
    -show-directory-coverage -Xdemangler=llvm-cxxfilt-19 "${cov_args[@]}" \
    >>"$report/replay.log" 2>&1; then
    COVERAGE_SUMMARY="coverage: llvm-cov show failed (log: $report/replay.log)"
    return 1
  fi

  # The TOTAL line of the text report, functions and lines columns only:
  # TOTAL <functions> <missed> <executed%> <lines> <missed> <cover%>
  local total lines missed percent
  total=$("$llvm_cov" report -show-region-summary=false -show-branch-summary=false \
    -show-instantiation-summary=false "${cov_args[@]}" 2>>"$report/replay.log" | awk '$1 == "TOTAL"')
  read -r _ _ _ _ lines missed percent <<<"$total"
  if [[ ! $lines =~ ^[0-9]+$ || ! $missed =~ ^[0-9]+$ ]]; then
    COVERAGE_SUMMARY="coverage: no TOTAL line from llvm-cov report (report: $report/html/index.html)"
    return 1
  fi
  COVERAGE_SUMMARY="coverage: include/vfiopin lines $percent ($((lines - missed))/$lines) over $inputs inputs; report $report/html/index.html"
  # Functions of the same name that differ between the fuzzers (LLVMFuzzerTestOneInput, the
  # lambdas inside it, templates instantiated with those) cannot be matched to the merged
  # profile in every object; llvm-cov leaves them out and says how many.
  local mismatched
  mismatched=$(sed -n 's/.*warning: \([0-9]*\) functions have mismatched data.*/\1/p' "$report/replay.log" | sort -n | tail -n 1)
  if [[ -n $mismatched ]]; then
    COVERAGE_SUMMARY+=" ($mismatched same-named functions differ between fuzzers and are left out)"
  fi
  if [[ ${#failed[@]} -gt 0 ]]; then
    COVERAGE_SUMMARY+=" (INCOMPLETE: replay failed for ${failed[*]}, see $report/replay.log)"
  fi
}
