// The profiler's GPU track (tensor/profiler.h, tensor/cuda/profiler_gpu.cpp), on a GPU (suites
// Cuda*, skipped with the reason without one): each CUDA op has a host event and a GPU event of
// the same name, shape and device, with non-negative GPU durations in issue order; a host op
// has none; nothing is recorded while a graph is captured, and a replay is one op on each track.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "ops/ops.h"
#include "tensor/cuda_graph.h"
#include "tensor/profile_output.h"
#include "tensor/profiler.h"
#include "tests/device_compare.h"
#include "tests/require_cuda_graphs.h"

namespace ember {
namespace {

using profiler::Event;
using profiler::Kind;
using profiler::Track;

const Device kGpu = Device::cuda(0);

std::vector<Event> on_track(const profiler::Trace& t, Track track) {
  std::vector<Event> out;
  for (const Event& e : t.events)
    if (e.kind == Kind::kOp && e.track == track) out.push_back(e);
  return out;
}

TEST(CudaProfiler, EachGpuOpHasAGpuEventInIssueOrder) {
  EMBER_REQUIRE_CUDA();
  const Tensor x = full({1 << 20}, 1.0f, {.device = kGpu});
  const Tensor h = ones({8});
  profiler::Session session;
  const Tensor y = add_scalar(mul_scalar(x, 2.0), 1.0);
  const Tensor s = sum(y);
  const Tensor on_host = h + h;  // a CPU op: host track only
  const profiler::Trace trace = session.stop();
  const std::vector<Event> host = on_track(trace, Track::kHost);
  const std::vector<Event> gpu = on_track(trace, Track::kGpu);
  ASSERT_EQ(host.size(), gpu.size() + 1);
  ASSERT_GE(gpu.size(), 3u);
  for (size_t i = 0; i < gpu.size(); ++i) {
    EXPECT_EQ(gpu[i].name, host[i].name);
    EXPECT_EQ(gpu[i].shape, host[i].shape);
    EXPECT_EQ(gpu[i].device, "cuda:0");
    EXPECT_GE(gpu[i].dur_us, 0.0);
    if (i > 0) {
      EXPECT_GE(gpu[i].start_us, gpu[i - 1].start_us + gpu[i - 1].dur_us - 1e-3);
    }
  }
  EXPECT_EQ(host.back().device, "cpu");
  EXPECT_GT(trace.gpu_span_us, 0.0);
  // The GPU track is named in the trace, and the table has rows for it.
  const nlohmann::json j = profiler::chrome_trace(trace);
  int gpu_events = 0;
  for (const auto& e : j["traceEvents"])
    if (e["ph"] == "X" && e["tid"] == 2) ++gpu_events;
  EXPECT_EQ(gpu_events, static_cast<int>(gpu.size()));
  int gpu_rows = 0;
  for (const auto& r : profiler::summarize(trace)) gpu_rows += r.track == Track::kGpu;
  EXPECT_GE(gpu_rows, 3);
}

TEST(CudaProfiler, AReplayIsOneEventAndACaptureRecordsNothing) {
  EMBER_REQUIRE_CUDA_GRAPHS();
  const Tensor x = full({4096}, 1.0f, {.device = kGpu});
  Tensor y;
  profiler::Session session;
  CudaGraph g;
  g.capture(0, [&] { y = add_scalar(mul_scalar(x, 2.0), 1.0); });
  g.replay();
  g.replay();
  const profiler::Trace trace = session.stop();
  for (Track track : {Track::kHost, Track::kGpu}) {
    const std::vector<Event> ops = on_track(trace, track);
    ASSERT_EQ(ops.size(), 2u) << profiler::track_name(track);
    for (const Event& e : ops) {
      EXPECT_EQ(e.name, "graph replay");
      EXPECT_EQ(e.device, "cuda:0");
      EXPECT_GE(e.dur_us, 0.0);
    }
  }
  EXPECT_EQ(y.to_vector<float>(), std::vector<float>(4096, 3.0f));
}

}  // namespace
}  // namespace ember
