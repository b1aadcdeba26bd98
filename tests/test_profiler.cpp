// The profiler (tensor/profiler.h, tensor/profile_output.h, training/profiled_steps.h) on the
// CPU: one event per dispatch with its name, shape and dtype, nested in the marked ranges; the
// Chrome trace parses; the table's totals are the events' sums; off records and writes nothing;
// nothing is recorded while a graph is captured; EMBER_PROFILE(_STEPS) parsing; a training step
// of a small model recorded end to end. The GPU track: tests/test_cuda_profiler.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>

#include "nn/layers.h"
#include "ops/loss.h"
#include "ops/ops.h"
#include "optim/sgd.h"
#include "tensor/dispatch_count.h"
#include "tensor/graph_capture.h"
#include "tensor/profile_output.h"
#include "tensor/profiler.h"
#include "tests/expect_error.h"
#include "tests/temp_dir.h"
#include "training/profiled_steps.h"

namespace ember {
namespace {

using profiler::Event;
using profiler::Kind;
using profiler::Trace;

std::vector<Event> ops_of(const Trace& t) {
  std::vector<Event> out;
  for (const Event& e : t.events)
    if (e.kind == Kind::kOp) out.push_back(e);
  return out;
}

const Event* range_named(const Trace& t, const std::string& name) {
  for (const Event& e : t.events)
    if (e.kind == Kind::kRange && e.name == name) return &e;
  return nullptr;
}

bool inside(const Event& inner, const Event& outer) {
  return inner.start_us >= outer.start_us &&
         inner.start_us + inner.dur_us <= outer.start_us + outer.dur_us;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST(Profiler, OneEventPerDispatchWithNameShapeAndDtype) {
  const Tensor a = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = ones({2, 3});
  profiler::Session session;
  EXPECT_TRUE(profiler::recording());
  const uint64_t before = dispatch_count();
  const Tensor c = a * b + a;
  const Tensor s = sum(c);
  const uint64_t dispatches = dispatch_count() - before;
  const Trace trace = session.stop();
  EXPECT_FALSE(profiler::recording());
  const std::vector<Event> ops = ops_of(trace);
  ASSERT_EQ(ops.size(), dispatches);
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_EQ(ops[0].name, "Mul");
  EXPECT_EQ(ops[1].name, "Add");
  EXPECT_EQ(ops[2].name, "sum");
  for (const Event& e : ops) {
    EXPECT_EQ(e.shape, "[2, 3]") << e.name;
    EXPECT_EQ(e.dtype, "float32") << e.name;
    EXPECT_EQ(e.device, "cpu") << e.name;
    EXPECT_GE(e.start_us, 0.0) << e.name;
    EXPECT_GE(e.dur_us, 0.0) << e.name;
    EXPECT_LE(e.start_us + e.dur_us, trace.host_span_us) << e.name;
  }
  EXPECT_LE(ops[0].start_us, ops[1].start_us);
  EXPECT_EQ(trace.gpu_span_us, 0.0);
}

TEST(Profiler, ChromeTraceParsesWithCompleteEventsAndNamedTracks) {
  testing::TempDir dir("profiler_json");
  profiler::Session session;
  Trace trace;
  {
    const profiler::Range step("step 1");
    const Tensor z = full({4, 5}, 2.0, {DType::Float64});  // one fill
    const Tensor y = z + z;
  }
  trace = session.stop();
  const auto csv = profiler::write(trace, dir.file("trace.json"));
  EXPECT_EQ(csv, dir.path / "trace.csv");
  const nlohmann::json j = read_json(dir.file("trace.json"));
  ASSERT_TRUE(j.contains("traceEvents"));
  std::map<std::string, int> complete;  // name -> count
  bool host_named = false;
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "thread_name" && e["tid"] == 1) host_named = true;
    if (e["ph"] != "X") continue;
    ++complete[e["name"].get<std::string>()];
    EXPECT_GE(e["dur"].get<double>(), 0.0);
    EXPECT_EQ(e["pid"], 1);
    EXPECT_EQ(e["tid"], 1);  // the host thread: no GPU here
    if (e["cat"] == "op") {
      EXPECT_EQ(e["args"]["shape"], "[4, 5]");
      EXPECT_EQ(e["args"]["dtype"], "float64");
      EXPECT_EQ(e["args"]["device"], "cpu");
    } else {
      EXPECT_EQ(e["cat"], "range");
    }
  }
  EXPECT_TRUE(host_named);
  EXPECT_EQ(complete, (std::map<std::string, int>{{"step 1", 1}, {"fill", 1}, {"Add", 1}}));
  std::ifstream in(csv);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "track,op,calls,total_ms,mean_us,percent");
}

TEST(Profiler, OpsNestInsideTheMarkedRanges) {
  const Tensor a = from_vector<float>({1, 2, 3}, {3});
  profiler::Session session;
  {
    const profiler::Range outer("step 7");
    const Tensor b = a * a;
    {
      const profiler::Range inner("forward");
      const profiler::Range again("forward");  // nested in one of its name: not a second range
      const Tensor c = b + a;
    }
  }
  const Tensor after = a - a;
  const Trace trace = session.stop();
  const Event* step = range_named(trace, "step 7");
  const Event* forward = range_named(trace, "forward");
  ASSERT_TRUE(step && forward);
  EXPECT_EQ(std::count_if(trace.events.begin(), trace.events.end(),
                          [](const Event& e) { return e.name == "forward"; }),
            1);
  EXPECT_TRUE(inside(*forward, *step));
  const std::vector<Event> ops = ops_of(trace);
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_TRUE(inside(ops[0], *step));
  EXPECT_FALSE(inside(ops[0], *forward));
  EXPECT_TRUE(inside(ops[1], *forward));
  EXPECT_FALSE(inside(ops[2], *step));  // Sub came after the range closed
}

TEST(Profiler, TableTotalsAreTheEventsSums) {
  const Tensor a = from_vector<float>({1, 2, 3, 4}, {4});
  profiler::Session session;
  Tensor x = a;
  for (int i = 0; i < 5; ++i) x = x * a + a;
  const Tensor s = sum(x);
  const Trace trace = session.stop();
  std::map<std::string, std::pair<int64_t, double>> expected;
  for (const Event& e : ops_of(trace)) {
    ++expected[e.name].first;
    expected[e.name].second += e.dur_us / 1000.0;
  }
  const auto rows = profiler::summarize(trace);
  ASSERT_EQ(rows.size(), expected.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    EXPECT_EQ(r.track, profiler::Track::kHost);
    EXPECT_EQ(r.calls, expected.at(r.op).first) << r.op;
    EXPECT_DOUBLE_EQ(r.total_ms, expected.at(r.op).second) << r.op;
    EXPECT_DOUBLE_EQ(r.mean_us, r.total_ms * 1000.0 / r.calls) << r.op;
    EXPECT_NEAR(r.percent, 100.0 * r.total_ms * 1000.0 / trace.host_span_us, 1e-9) << r.op;
    if (i > 0) {
      EXPECT_GE(rows[i - 1].total_ms, r.total_ms);  // sorted by total time
    }
  }
  EXPECT_EQ(rows[0].calls + rows[1].calls + rows[2].calls, 11);
  const std::string table = profiler::format_table(rows);
  EXPECT_NE(table.find("Mul"), std::string::npos);
  EXPECT_NE(table.find("total ms"), std::string::npos);
  const std::string csv = profiler::format_csv(rows);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);  // header + 3 ops
}

TEST(Profiler, OffRecordsNothingAndWritesNoFile) {
  testing::TempDir dir("profiler_off");
  EXPECT_FALSE(profiler::recording());
  const Tensor a = from_vector<float>({1, 2}, {2});
  const Tensor before = a + a;  // not recorded: no session yet
  training::ProfiledSteps off(std::nullopt);
  EXPECT_FALSE(off.enabled());
  for (int i = 0; i < 3; ++i) {
    off.begin_step();
    EXPECT_FALSE(profiler::recording());
    const Tensor b = a * a;
    EXPECT_EQ(off.end_step(), "");
  }
  EXPECT_EQ(off.finish(), "");
  EXPECT_TRUE(std::filesystem::is_empty(dir.path));
  profiler::Session session;  // a session sees only what follows it
  const Tensor c = a - a;
  const Trace trace = session.stop();
  ASSERT_EQ(ops_of(trace).size(), 1u);
  EXPECT_EQ(ops_of(trace)[0].name, "Sub");
}

TEST(Profiler, OneSessionPerThread) {
  profiler::Session session;
  testing::expect_error([] { profiler::Session second; }, {"already recording"});
  EXPECT_TRUE(profiler::recording());
}

TEST(Profiler, NothingRecordedWhileCapturingAGraph) {
  const Tensor a = from_vector<float>({1, 2}, {2});
  profiler::Session session;
  graph::begin_capture(0);
  {
    const profiler::Range range("forward");
    const profiler::OpScope op("Add", a);
  }
  graph::end_capture();
  const Trace trace = session.stop();
  EXPECT_TRUE(trace.events.empty());
}

TEST(Profiler, SettingsParseAndBadValuesNameTheVariable) {
  EXPECT_FALSE(profiler::parse_settings(nullptr, nullptr).has_value());
  const auto one = profiler::parse_settings("out/p.json", nullptr);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->path, "out/p.json");
  EXPECT_EQ(one->first_step, 5);
  EXPECT_EQ(one->last_step, 5);
  const auto range = profiler::parse_settings("p.json", "3-8");
  EXPECT_EQ(range->first_step, 3);
  EXPECT_EQ(range->last_step, 8);
  const auto single = profiler::parse_settings("p.json", "12");
  EXPECT_EQ(single->first_step, 12);
  EXPECT_EQ(single->last_step, 12);
  testing::expect_error([] { profiler::parse_settings("trace.txt", nullptr); },
                        {"EMBER_PROFILE=trace.txt", ".json"});
  testing::expect_error([] { profiler::parse_settings("", nullptr); }, {"EMBER_PROFILE=", ".json"});
  for (const char* bad : {"", "x", "3-", "-3", "5-2", "0", "0-4", "1,2", " 3"})
    testing::expect_error([bad] { profiler::parse_settings("p.json", bad); },
                          {std::string("EMBER_PROFILE_STEPS=") + bad});
  testing::expect_error([] { profiler::parse_settings(nullptr, "2"); },
                        {"EMBER_PROFILE_STEPS=2", "EMBER_PROFILE is not"});
}

// A small model's training steps through the apps' helper: steps 2-3 of 4 recorded, each in its
// "step N" range holding forward, backward and the optimizer's step, with every dispatch an op.
TEST(Profiler, TrainingStepsRecordedEndToEnd) {
  testing::TempDir dir("profiler_train");
  RandomGenerator gen(3);
  nn::Linear layer(4, 2, gen);
  optim::SGD sgd(layer.parameters(), {.lr = 0.1, .momentum = 0.9});
  const Tensor x = from_vector<float>({1, 2, 3, 4, -1, 0, 2, 1}, {2, 4});
  const Tensor target = zeros({2, 2});
  profiler::Settings settings{dir.path / "steps.json", 2, 3};
  training::ProfiledSteps steps(settings);
  uint64_t recorded_dispatches = 0;
  std::vector<std::string> lines;
  for (int i = 1; i <= 4; ++i) {
    steps.begin_step();
    const uint64_t before = dispatch_count();
    sgd.zero_grad();
    const Tensor loss = mse_loss(layer(x), target);
    loss.backward();
    sgd.step();
    if (i == 2 || i == 3) recorded_dispatches += dispatch_count() - before;
    lines.push_back(steps.end_step());
  }
  EXPECT_EQ(lines[0], "");
  EXPECT_EQ(lines[1], "");
  EXPECT_NE(lines[2].find(settings.path.string()), std::string::npos) << lines[2];
  EXPECT_EQ(lines[3], "");
  EXPECT_FALSE(profiler::recording());

  const nlohmann::json j = read_json(settings.path.string());
  std::vector<nlohmann::json> ops, ranges;
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] != "X") continue;
    (e["cat"] == "op" ? ops : ranges).push_back(e);
  }
  EXPECT_EQ(ops.size(), recorded_dispatches);
  auto span = [](const nlohmann::json& e) {
    return std::pair<double, double>{e["ts"].get<double>(),
                                     e["ts"].get<double>() + e["dur"].get<double>()};
  };
  std::map<std::string, int> range_count;
  for (const auto& r : ranges) ++range_count[r["name"].get<std::string>()];
  EXPECT_EQ(range_count, (std::map<std::string, int>{{"step 2", 1}, {"step 3", 1}, {"forward", 2},
                                                     {"backward", 2}, {"optimizer step", 2}}));
  // Every op and every inner range lies inside one of the two step ranges.
  std::vector<std::pair<double, double>> step_spans;
  for (const auto& r : ranges)
    if (r["name"].get<std::string>().rfind("step ", 0) == 0) step_spans.push_back(span(r));
  auto in_a_step = [&](const nlohmann::json& e) {
    const auto [s, t] = span(e);
    return std::any_of(step_spans.begin(), step_spans.end(),
                       [&](const auto& st) { return s >= st.first && t <= st.second; });
  };
  for (const auto& e : ops) EXPECT_TRUE(in_a_step(e)) << e.dump();
  for (const auto& e : ranges) EXPECT_TRUE(in_a_step(e)) << e.dump();
  // The linear layer's matrix product is in forward, shaped as its output (the deciding tensor).
  bool matmul_in_forward = false;
  for (const auto& r : ranges) {
    if (r["name"] != "forward") continue;
    const auto [fs, ft] = span(r);
    for (const auto& e : ops) {
      const auto [s, t] = span(e);
      if (s >= fs && t <= ft && e["name"] == "gemm" && e["args"]["shape"] == "[2, 2]")
        matmul_in_forward = true;
    }
  }
  EXPECT_TRUE(matmul_in_forward);
  EXPECT_TRUE(std::filesystem::exists(dir.path / "steps.csv"));
}

TEST(Profiler, AnEarlyEndWritesWhatWasRecorded) {
  testing::TempDir dir("profiler_early");
  training::ProfiledSteps steps(profiler::Settings{dir.path / "p.json", 1, 10});
  steps.begin_step();
  const Tensor z = zeros({3});
  EXPECT_EQ(steps.end_step(), "");
  EXPECT_TRUE(profiler::recording());
  EXPECT_NE(steps.finish().find("steps 1-1"), std::string::npos);
  EXPECT_FALSE(profiler::recording());
  EXPECT_TRUE(std::filesystem::exists(dir.path / "p.json"));
}

}  // namespace
}  // namespace ember
