// SPDX-License-Identifier: Apache-2.0
//
// vfiopin_bench: wall time of every case of benchmarks/workloads.hpp, with Google Benchmark.
//
// One benchmark per case, named WORKLOAD/IMPL. An iteration is one run() of the workload
// (setup is done once per benchmark run, reset() with the timer paused); the counter per_op
// is the time of one operation (seconds; the console shows it with an SI prefix). Extra flag:
// --tiny uses the smoke-test sizes. benchmarks/run.sh passes repetitions, random
// interleaving and JSON output, and pins the process to one CPU.
#include "benchmarks/workloads.hpp"

#include <benchmark/benchmark.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace vfiopin::bench;

void run_case(benchmark::State& state, const bench_case* c, scale s) {
  auto w = c->make(s);
  for (auto _ : state) {
    if (w->needs_reset()) {
      state.PauseTiming();
      w->reset();
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(w->run());
  }
  state.counters["per_op"] = benchmark::Counter(
      static_cast<double>(w->ops), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

}  // namespace

int main(int argc, char** argv) {
  scale s = full_scale;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--tiny") s = tiny_scale;
    else args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  for (const auto& c : all_cases()) {
    const std::string name = std::string(c.workload) + "/" + std::string(c.impl);
    benchmark::RegisterBenchmark(name.c_str(), [&c, s](benchmark::State& st) { run_case(st, &c, s); })
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
