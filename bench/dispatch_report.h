// The dispatch count of one training step, reported beside img/s (tensor/dispatch_count.h): the
// step runs once more, untimed, inside a DispatchTally, and its total becomes the counter
// "dispatches" (per step; the same on the CPU and the GPU), and the GPU kernel launches and
// library calls it made "launches" (0 on the CPU). With EMBER_DISPATCH_TABLE=1 the benchmark also
// prints the ops that made the dispatches, most frequent first, on stderr (once per case: Google
// Benchmark may call a case's function more than once). With EMBER_PROFILE=<path.json> that
// untimed step is recorded by the profiler (tensor/profiler.h) inside a "step" range, for the
// first case run only, and written as the trace and its table (path.csv); the table and the
// recorded step's time are printed on stderr (docs/profiler.md).
#pragma once
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <set>
#include <string>

#include "tensor/dispatch_count.h"
#include "tensor/profile_output.h"
#include "tensor/profiler.h"

namespace ember::bench {

template <typename Step>
void report_step_dispatches(benchmark::State& state, const std::string& case_name, Step&& step) {
  static bool profiled = false;
  const std::optional<profiler::Settings> profile = profiler::settings_from_env();
  std::optional<profiler::Session> session;
  if (profile && !profiled) session.emplace();
  DispatchTally tally;
  const uint64_t launches_before = launch_count();
  {
    const profiler::Range range("step");
    step();
  }
  if (session) {
    profiled = true;
    const profiler::Trace trace = session->stop();
    const auto csv = profiler::write(trace, profile->path);
    std::cerr << case_name << ": one step recorded in " << trace.host_span_us / 1000.0
              << " ms (host), written to " << profile->path.string() << " and " << csv.string()
              << "\n" << profiler::format_table(profiler::summarize(trace));
  }
  state.counters["dispatches"] = static_cast<double>(tally.total());
  // GPU kernel launches and library calls (0 on the CPU path).
  state.counters["launches"] = static_cast<double>(launch_count() - launches_before);
  const char* table = std::getenv("EMBER_DISPATCH_TABLE");
  if (table == nullptr || std::strcmp(table, "1") != 0) return;
  static std::set<std::string> printed;
  if (!printed.insert(case_name).second) return;
  std::cerr << case_name << ": " << tally.total() << " dispatches per step\n";
  for (const auto& [name, count] : tally.by_name())
    std::cerr << "  " << count << "\t" << name << "\n";
}

}  // namespace ember::bench
