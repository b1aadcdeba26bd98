// The timeline picture of a profiler trace (report/trace_timeline.h): a recorded trace draws to
// a PNG and an SVG of the asked width (the PNG at kPngScale), ops fall in the categories the
// legend names, and a trace with nothing to draw is refused naming why.
#include <gtest/gtest.h>
#include <stb/stb_image.h>

#include "ops/ops.h"
#include "report/trace_timeline.h"
#include "tensor/profile_output.h"
#include "tests/expect_error.h"
#include "tests/temp_dir.h"

namespace ember {
namespace {

TEST(ReportTraceTimeline, ARecordedTraceDrawsAtTheAskedWidth) {
  testing::TempDir dir("trace_timeline");
  const Tensor a = from_vector<float>({1, 2, 3, 4}, {2, 2});
  profiler::Session session;
  {
    const profiler::Range step("step 1");
    Tensor x = a;
    for (int i = 0; i < 4; ++i) x = x * a + a;
    const Tensor s = sum(x);
  }
  const nlohmann::json trace = profiler::chrome_trace(session.stop());
  const auto files = report::draw_trace_timeline(trace, dir.file("t"), "a test trace", 600);
  int w = 0, h = 0, channels = 0;
  ASSERT_TRUE(stbi_info(files.png.c_str(), &w, &h, &channels)) << files.png;
  EXPECT_EQ(w, 600 * report::kPngScale);
  EXPECT_GT(h, 0);
  EXPECT_TRUE(std::filesystem::exists(files.svg));
}

TEST(ReportTraceTimeline, OpCategories) {
  EXPECT_EQ(report::op_category("conv2d_weight_grad"), "conv");
  EXPECT_EQ(report::op_category("gemm"), "matmul");
  EXPECT_EQ(report::op_category("batch_norm (training forward)"), "norm");
  EXPECT_EQ(report::op_category("adam_step"), "optimizer");
  EXPECT_EQ(report::op_category("copy"), "copy");
  EXPECT_EQ(report::op_category("graph replay"), "graph");
  EXPECT_EQ(report::op_category("sum"), "reduction");
  EXPECT_EQ(report::op_category("Mul"), "elementwise");
}

TEST(ReportTraceTimeline, NothingToDrawIsRefused) {
  testing::TempDir dir("trace_timeline_empty");
  testing::expect_error(
      [&] { report::draw_trace_timeline({{"traceEvents", nlohmann::json::array()}}, dir.file("t"), "x"); },
      {"no complete"});
  testing::expect_error([&] { report::draw_trace_timeline(nlohmann::json::array(), dir.file("t"), "x"); },
                        {"traceEvents"});
}

}  // namespace
}  // namespace ember
