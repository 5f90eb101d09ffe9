# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# Shared helpers of scripts/test-all and scripts/fuzz-campaign (sourced, not run).
#
# - the repository root and the build tree of a CMake preset (build/<preset>, as the
#   binaryDir of every configure preset in CMakePresets.json);
# - configure + build of a preset;
# - the fuzzer manifest: fuzz/CMakeLists.txt writes build/<preset>/fuzzers.tsv with one line
#   per vfiopin_add_fuzzer() call (name, engine, executable, corpus dir, dictionary or "-"),
#   so a new fuzz target reaches both scripts without editing them;
# - the libFuzzer flags every run shares.

VFIOPIN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VFIOPIN_JOBS=${VFIOPIN_JOBS:-2}

# Per-input limits for a pure in-memory target (libFuzzer's defaults, 1200 s, are far too lax).
LIBFUZZER_LIMITS=(-timeout=1 -rss_limit_mb=2048)

preset_dir() {
  echo "$VFIOPIN_ROOT/build/$1"
}

# preset_configure PRESET [CMAKE ARGS...]: configure the preset's build tree.
preset_configure() {
  local preset=$1
  shift
  (cd "$VFIOPIN_ROOT" && cmake --preset "$preset" "$@")
}

# preset_build PRESET [TARGET...]: build all, or just the TARGETs.
preset_build() {
  local preset=$1
  shift
  local targets=()
  local target
  for target in "$@"; do
    targets+=(--target "$target")
  done
  (cd "$VFIOPIN_ROOT" && cmake --build --preset "$preset" --parallel "$VFIOPIN_JOBS" "${targets[@]}")
}

# preset_configure_build PRESET [TARGET...]: configure, then build (all, or just TARGETs).
preset_configure_build() {
  preset_configure "$1" && preset_build "$@"
}

# fuzz_manifest_load PRESET: fills FUZZ_NAMES, FUZZ_EXES, FUZZ_CORPORA and FUZZ_DICTS (one
# entry per fuzzer, same order). Fails unless the preset builds libFuzzer fuzzers.
fuzz_manifest_load() {
  local manifest
  manifest="$(preset_dir "$1")/fuzzers.tsv"
  FUZZ_NAMES=()
  FUZZ_EXES=()
  FUZZ_CORPORA=()
  FUZZ_DICTS=()
  if [[ ! -f $manifest ]]; then
    echo "no fuzzer manifest $manifest (is VFIOPIN_BUILD_FUZZERS on in preset $1?)" >&2
    return 1
  fi
  local name engine exe corpus dict
  while IFS=$'\t' read -r name engine exe corpus dict; do
    [[ -n $name ]] || continue
    if [[ $engine != libfuzzer ]]; then
      echo "fuzzer $name in preset $1 is built without libFuzzer (engine: $engine)" >&2
      return 1
    fi
    FUZZ_NAMES+=("$name")
    FUZZ_EXES+=("$exe")
    FUZZ_CORPORA+=("$corpus")
    FUZZ_DICTS+=("$dict")
  done <"$manifest"
  if [[ ${#FUZZ_NAMES[@]} -eq 0 ]]; then
    echo "the fuzzer manifest $manifest lists no fuzzer" >&2
    return 1
  fi
}

# libfuzzer_args INDEX ARTIFACT_DIR: sets LIBFUZZER_ARGS to the flags every libFuzzer run of
# fuzzer INDEX shares (limits, its dictionary, crash files into ARTIFACT_DIR).
libfuzzer_args() {
  LIBFUZZER_ARGS=("${LIBFUZZER_LIMITS[@]}" "-artifact_prefix=$2/")
  if [[ ${FUZZ_DICTS[$1]} != - ]]; then
    LIBFUZZER_ARGS+=("-dict=${FUZZ_DICTS[$1]}")
  fi
}

# seed_corpus INDEX DIR: a fresh working corpus in DIR, seeded from the committed corpus.
seed_corpus() {
  rm -rf "$2"
  mkdir -p "$2"
  if [[ -d ${FUZZ_CORPORA[$1]} ]]; then
    cp -R "${FUZZ_CORPORA[$1]}/." "$2/"
  fi
}

count_files() {
  if [[ -d $1 ]]; then
    find "$1" -type f | wc -l
  else
    echo 0
  fi
}

# libfuzzer_stats LOG...: the last status line of each libFuzzer log (plain, -jobs worker
# or -fork parent), as "execs exec_per_s cov ft corpus": execs and exec/s summed over the
# logs, the others their maximum ("- - - - -" before the first status line).
libfuzzer_stats() {
  awk '
    /^#[0-9]+/ {
      n = substr($1, 2); sub(/:$/, "", n)
      execs[FILENAME] = n
      for (i = 2; i < NF; i++) {
        if ($i == "cov:") cov[FILENAME] = $(i + 1)
        else if ($i == "ft:") ft[FILENAME] = $(i + 1)
        else if ($i == "corp:") { c = $(i + 1); sub(/\/.*/, "", c); corp[FILENAME] = c }
        else if ($i == "exec/s:") eps[FILENAME] = $(i + 1)
      }
    }
    END {
      seen = 0
      for (f in execs) {
        seen = 1
        total += execs[f]; rate += eps[f]
        if (cov[f] + 0 > max_cov) max_cov = cov[f] + 0
        if (ft[f] + 0 > max_ft) max_ft = ft[f] + 0
        if (corp[f] + 0 > max_corp) max_corp = corp[f] + 0
      }
      if (seen) printf "%.0f %.0f %d %d %d\n", total, rate, max_cov, max_ft, max_corp
      else print "- - - - -"
    }' "$@" 2>/dev/null || echo "- - - - -"
}
