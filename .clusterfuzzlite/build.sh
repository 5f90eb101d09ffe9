#!/bin/bash -eu
# SPDX-License-Identifier: Apache-2.0
#
# build.sh: builds vfiopin's fuzzers for OSS-Fuzz / ClusterFuzzLite.
#
# The OSS-Fuzz build contract: the builder image gives $CC $CXX $CFLAGS $CXXFLAGS (compiler,
# sanitizer and coverage flags), $LIB_FUZZING_ENGINE (the engine's link flags), $SRC (the
# sources; the Dockerfile copies this repository to $SRC/vfiopin), $WORK (scratch) and $OUT
# (the results). This script
#   1. configures CMake in $WORK/vfiopin-build with only the fuzzers (no tests, examples,
#      benchmarks, tools or install rules): VFIOPIN_FUZZ_LINKMAIN=OFF links each fuzzer with
#      VFIOPIN_FUZZ_LDFLAGS=$LIB_FUZZING_ENGINE. The compile and sanitizer flags come from
#      $CFLAGS/$CXXFLAGS alone (VFIOPIN_SANITIZE empty, no build type), and warnings are not
#      errors: the builder's clang is not the clang-19 the project tests with;
#   2. builds the target vfiopin_fuzzers (every fuzzer);
#   3. reads the build tree's fuzzers.tsv (one line per vfiopin_add_fuzzer(): name, engine,
#      executable, corpus dir, dictionary or "-"), so a new target needs no change here, and
#      writes into $OUT for each fuzzer fuzz_<name>:
#        fuzz_<name>                  the fuzzer
#        fuzz_<name>_seed_corpus.zip  fuzz/corpus/<name>/, flat (when it has files)
#        fuzz_<name>.dict             fuzz/dict/<name>.dict (when it exists)
#        fuzz_<name>.options          [libfuzzer] timeout, max_len and dict
# tests/oss_fuzz/check-build-sh runs this script with the same environment set up locally
# and checks what lands in $OUT.

src_dir=$SRC/vfiopin
build_dir=$WORK/vfiopin-build

# Per-input limit, as the project's own runs use (-timeout=1): an input is meant to take
# well under 10 ms, so a second is a hang.
timeout_seconds=1
# libFuzzer's own default max_len, raised to the largest seed.
min_max_len=4096

generator=()
if command -v ninja >/dev/null 2>&1; then
  generator=(-G Ninja)
fi

# CC/CFLAGS are passed for completeness; vfiopin has no C sources today.
cmake -S "$src_dir" -B "$build_dir" "${generator[@]}" --no-warn-unused-cli \
  -DCMAKE_BUILD_TYPE= \
  -DCMAKE_C_COMPILER="$CC" \
  -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_C_FLAGS="$CFLAGS" \
  -DCMAKE_CXX_FLAGS="$CXXFLAGS" \
  -DVFIOPIN_BUILD_FUZZERS=ON \
  -DVFIOPIN_BUILD_TESTS=OFF \
  -DVFIOPIN_BUILD_EXAMPLES=OFF \
  -DVFIOPIN_BUILD_BENCHMARKS=OFF \
  -DVFIOPIN_BUILD_TOOLS=OFF \
  -DVFIOPIN_INSTALL=OFF \
  -DVFIOPIN_WERROR=OFF \
  -DVFIOPIN_SANITIZE= \
  -DVFIOPIN_FUZZ_LINKMAIN=OFF \
  -DVFIOPIN_FUZZ_LDFLAGS="$LIB_FUZZING_ENGINE"
cmake --build "$build_dir" --target vfiopin_fuzzers --parallel "$(nproc)"

manifest=$build_dir/fuzzers.tsv
count=0
while IFS=$'\t' read -r name engine exe corpus dict; do
  [[ -n $name ]] || continue
  if [[ $engine != libfuzzer ]]; then
    echo "build.sh: fuzzer $name was built as '$engine', not libfuzzer" >&2
    exit 1
  fi
  fuzzer=fuzz_$name
  cp "$exe" "$OUT/$fuzzer"

  max_len=$min_max_len
  rm -f "$OUT/${fuzzer}_seed_corpus.zip"
  if [[ -d $corpus && -n $(find "$corpus" -type f -print -quit) ]]; then
    # Flat (-j): the fuzzing infrastructure unpacks the seeds into one directory.
    find "$corpus" -type f -print | sort | zip -q -j -X "$OUT/${fuzzer}_seed_corpus.zip" -@
    largest=$(find "$corpus" -type f -printf '%s\n' | sort -n | tail -n 1)
    if [[ -n $largest && $largest -gt $max_len ]]; then
      max_len=$largest
    fi
  fi

  {
    echo "[libfuzzer]"
    echo "timeout = $timeout_seconds"
    echo "max_len = $max_len"
    if [[ $dict != - ]]; then
      cp "$dict" "$OUT/$fuzzer.dict"
      echo "dict = $fuzzer.dict"
    fi
  } >"$OUT/$fuzzer.options"
  count=$((count + 1))
done <"$manifest"

if [[ $count -eq 0 ]]; then
  echo "build.sh: $manifest lists no fuzzer" >&2
  exit 1
fi
echo "build.sh: $count fuzzer(s) in $OUT"
