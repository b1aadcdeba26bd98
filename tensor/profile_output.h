// What the profiler writes (tensor/profiler.h): a Chrome trace, JSON that Perfetto
// (ui.perfetto.dev) and chrome://tracing open, and a per-op summary table, as text and as CSV.
//
// The trace is {"traceEvents": [...]}: one "ph":"X" (complete) event per recorded op or range,
// ts and dur in microseconds, pid 1, tid 1 the host thread and tid 2 the GPU track; "M"
// metadata events name the process and the two tracks. Each event's args hold its device and,
// for ops, the deciding tensor's shape and dtype; "cat" is "op" or "range".
// The table has one row per (track, op name): calls, total ms, mean us, and the share of the
// track's recorded time (the session's span on the host; first to last GPU mark on the GPU),
// sorted by total time, the host's rows first. Ranges are not rows (they hold the ops).
// Tested in tests/test_profiler.cpp.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tensor/profiler.h"

namespace ember::profiler {

nlohmann::json chrome_trace(const Trace& trace);

struct SummaryRow {
  Track track = Track::kHost;
  std::string op;
  int64_t calls = 0;
  double total_ms = 0, mean_us = 0;
  double percent = 0;  // of the track's recorded time
};
std::vector<SummaryRow> summarize(const Trace& trace);
std::string format_table(const std::vector<SummaryRow>& rows);
std::string format_csv(const std::vector<SummaryRow>& rows);
const char* track_name(Track track);  // "host", "GPU"

// Writes the trace to json_path and the table's CSV beside it (the same name, .csv), each
// atomically; returns the CSV's path.
std::filesystem::path write(const Trace& trace, const std::filesystem::path& json_path);

}  // namespace ember::profiler
