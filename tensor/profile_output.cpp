// The profiler's trace JSON and summary table (contract in tensor/profile_output.h).
#include "tensor/profile_output.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>

#include "tensor/atomic_file.h"

namespace ember::profiler {
namespace {

constexpr int kPid = 1;
int tid_of(Track track) { return track == Track::kHost ? 1 : 2; }

nlohmann::json metadata(const char* what, int tid, const std::string& name) {
  nlohmann::json m = {{"ph", "M"}, {"name", what}, {"pid", kPid}, {"args", {{"name", name}}}};
  if (tid) m["tid"] = tid;
  return m;
}

std::string printf_string(const char* format, auto... values) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, format, values...);
  return buffer;
}

}  // namespace

const char* track_name(Track track) { return track == Track::kHost ? "host" : "GPU"; }

nlohmann::json chrome_trace(const Trace& trace) {
  nlohmann::json events = nlohmann::json::array();
  events.push_back(metadata("process_name", 0, "ember"));
  events.push_back(metadata("thread_name", tid_of(Track::kHost),
                            "host (thread " + std::to_string(trace.thread) + ")"));
  if (trace.gpu_span_us > 0 ||
      std::any_of(trace.events.begin(), trace.events.end(),
                  [](const Event& e) { return e.track == Track::kGpu; }))
    events.push_back(metadata("thread_name", tid_of(Track::kGpu), "GPU (compute stream)"));
  for (const Event& e : trace.events) {
    nlohmann::json args = {{"device", e.device}};
    if (!e.shape.empty()) args["shape"] = e.shape;
    if (!e.dtype.empty()) args["dtype"] = e.dtype;
    events.push_back({{"name", e.name},
                      {"cat", e.kind == Kind::kOp ? "op" : "range"},
                      {"ph", "X"},
                      {"ts", e.start_us},
                      {"dur", e.dur_us},
                      {"pid", kPid},
                      {"tid", tid_of(e.track)},
                      {"args", std::move(args)}});
  }
  return {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}};
}

std::vector<SummaryRow> summarize(const Trace& trace) {
  std::map<std::pair<Track, std::string>, SummaryRow> by_op;
  for (const Event& e : trace.events) {
    if (e.kind != Kind::kOp) continue;
    SummaryRow& row = by_op[{e.track, e.name}];
    row.track = e.track;
    row.op = e.name;
    ++row.calls;
    row.total_ms += e.dur_us / 1000.0;
  }
  std::vector<SummaryRow> rows;
  for (auto& [key, row] : by_op) {
    const double span_us = row.track == Track::kHost ? trace.host_span_us : trace.gpu_span_us;
    row.mean_us = row.total_ms * 1000.0 / row.calls;
    row.percent = span_us > 0 ? 100.0 * row.total_ms * 1000.0 / span_us : 0.0;
    rows.push_back(std::move(row));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const SummaryRow& a, const SummaryRow& b) {
    if (a.track != b.track) return a.track == Track::kHost;
    return a.total_ms > b.total_ms;
  });
  return rows;
}

std::string format_table(const std::vector<SummaryRow>& rows) {
  std::string out;
  bool first = true;
  Track track = Track::kHost;
  for (const SummaryRow& r : rows) {
    if (first || r.track != track) {
      track = r.track;
      out += printf_string("%s%-5s %-36s %7s %10s %10s %7s\n", first ? "" : "\n",
                           track_name(track), "op", "calls", "total ms", "mean us", "%");
      first = false;
    }
    out += printf_string("%-5s %-36s %7lld %10.3f %10.1f %6.1f%%\n", track_name(r.track),
                         r.op.c_str(), static_cast<long long>(r.calls), r.total_ms, r.mean_us,
                         r.percent);
  }
  return out;
}

std::string format_csv(const std::vector<SummaryRow>& rows) {
  std::string out = "track,op,calls,total_ms,mean_us,percent\n";
  for (const SummaryRow& r : rows) {
    // Op names are identifiers with spaces at most; quote them anyway for the CSV reader.
    out += printf_string("%s,\"%s\",%lld,%.6f,%.3f,%.3f\n", track_name(r.track), r.op.c_str(),
                         static_cast<long long>(r.calls), r.total_ms, r.mean_us, r.percent);
  }
  return out;
}

std::filesystem::path write(const Trace& trace, const std::filesystem::path& json_path) {
  std::filesystem::path csv_path = json_path;
  csv_path.replace_extension(".csv");
  write_file_atomically(json_path.string(), chrome_trace(trace).dump());
  write_file_atomically(csv_path.string(), format_csv(summarize(trace)));
  return csv_path;
}

}  // namespace ember::profiler
