// A profiler trace (tensor/profile_output.h: Chrome trace JSON) drawn as a timeline picture:
// one lane per track (the host thread, the GPU), nested ranges and ops stacked by depth, ops
// coloured by category (convolution, matrix product, normalisation, elementwise, reduction and
// loss, optimizer, copy and fill), ranges grey, a millisecond axis and a legend. Written as
// <stem>.svg and <stem>.png (report/chart_canvas.h). Used by apps/trace_image.cpp for the
// picture in docs/profiler.md; tested in tests/test_report_trace_timeline.cpp.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "report/chart_canvas.h"

namespace ember::report {

// The category an op's name falls in ("conv", "matmul", "norm", "reduction", "optimizer",
// "copy", "graph", "elementwise"), as the picture colours it.
std::string op_category(const std::string& op);

// Throws ember::Error naming what is wrong when `trace` has no complete ("X") events.
FigureFiles draw_trace_timeline(const nlohmann::json& trace, const std::string& stem,
                                const std::string& title, double width = 1200);

}  // namespace ember::report
