// The timeline picture of a profiler trace (contract in report/trace_timeline.h).
#include "report/trace_timeline.h"

#include <algorithm>
#include <map>
#include <vector>

#include "tensor/error.h"

namespace ember::report {
namespace {

using canvas::Font;
using canvas::HAlign;
using canvas::Rgb;
using canvas::VAlign;

struct Bar {
  std::string name, category;
  bool range = false;
  double start = 0, end = 0;  // microseconds
  int depth = 0;
};

struct Lane {
  std::string label;
  std::vector<Bar> bars;
  int depths = 1;
};

// Categories in legend order with their colours (Okabe-Ito; ranges light grey).
const std::vector<std::pair<std::string, Rgb>>& categories() {
  static const std::vector<std::pair<std::string, Rgb>> list = {
      {"conv", canvas::series_colour(0)},      {"matmul", canvas::series_colour(1)},
      {"norm", canvas::series_colour(2)},      {"elementwise", canvas::series_colour(5)},
      {"reduction", canvas::series_colour(3)}, {"optimizer", canvas::series_colour(4)},
      {"copy", canvas::series_colour(6)},      {"graph", canvas::from_hex(0x444444)},
  };
  return list;
}

Rgb colour_of(const Bar& b) {
  if (b.range) return canvas::from_hex(b.depth == 0 ? 0xBBBBBB : 0xD6D6D6);
  for (const auto& [name, colour] : categories())
    if (name == b.category) return colour;
  return canvas::from_hex(0x999999);
}

bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// Depth of each bar within its lane: the number of open bars that contain its start.
void assign_depths(Lane& lane) {
  std::sort(lane.bars.begin(), lane.bars.end(), [](const Bar& a, const Bar& b) {
    return a.start != b.start ? a.start < b.start : a.end > b.end;
  });
  std::vector<double> open_ends;
  for (Bar& b : lane.bars) {
    while (!open_ends.empty() && open_ends.back() <= b.start) open_ends.pop_back();
    b.depth = static_cast<int>(open_ends.size());
    lane.depths = std::max(lane.depths, b.depth + 1);
    open_ends.push_back(b.end);
  }
}

}  // namespace

std::string op_category(const std::string& op) {
  if (has(op, "conv")) return "conv";
  if (has(op, "gemm") || has(op, "matmul")) return "matmul";
  if (has(op, "norm")) return "norm";
  if (has(op, "adam") || has(op, "sgd") || has(op, "clip")) return "optimizer";
  if (op == "copy" || op == "fill" || has(op, "between devices")) return "copy";
  if (op == "graph replay") return "graph";
  if (has(op, "sum") || has(op, "softmax") || has(op, "cross_entropy") || has(op, "amax") ||
      has(op, "argmax") || has(op, "mean"))
    return "reduction";
  return "elementwise";
}

FigureFiles draw_trace_timeline(const nlohmann::json& trace, const std::string& stem,
                                const std::string& title, double width) {
  EMBER_CHECK(trace.is_object() && trace.contains("traceEvents") && trace["traceEvents"].is_array(),
              "trace timeline: expected a Chrome trace object with a traceEvents array");
  std::map<int, Lane> lanes;  // by tid
  double t0 = 0, t1 = 0;
  bool any = false;
  for (const auto& e : trace["traceEvents"]) {
    const int tid = e.value("tid", 0);
    if (e.value("ph", "") == "M" && e.value("name", "") == "thread_name")
      lanes[tid].label = e["args"].value("name", "");
    if (e.value("ph", "") != "X") continue;
    Bar b;
    b.name = e.value("name", "");
    b.range = e.value("cat", "") == "range";
    b.category = b.range ? "range" : op_category(b.name);
    b.start = e.value("ts", 0.0);
    b.end = b.start + e.value("dur", 0.0);
    t0 = any ? std::min(t0, b.start) : b.start;
    t1 = any ? std::max(t1, b.end) : b.end;
    any = true;
    lanes[tid].bars.push_back(b);
  }
  EMBER_CHECK(any, "trace timeline: the trace has no complete (\"X\") events to draw");
  for (auto& [tid, lane] : lanes) {
    assign_depths(lane);
    if (lane.label.empty()) lane.label = "thread " + std::to_string(tid);
  }
  std::erase_if(lanes, [](const auto& kv) { return kv.second.bars.empty(); });

  const Font title_font{15, true}, label_font{12, true}, bar_font{10}, tick_font{11};
  const double pad = 16, label_w = 150, row_h = 18, lane_gap = 14;
  const double plot_x = pad + label_w, plot_w = width - plot_x - pad;
  const double top = pad + 28;
  double lanes_h = 0;
  for (const auto& [tid, lane] : lanes) lanes_h += lane.depths * row_h + lane_gap;
  const double axis_y = top + lanes_h;
  const double height = axis_y + 70;
  const canvas::Ticks ticks = canvas::nice_ticks(0, (t1 - t0) / 1000.0, 8);
  const double span_ms = ticks.hi;
  auto x_of = [&](double us) { return plot_x + (us - t0) / 1000.0 / span_ms * plot_w; };

  return canvas::render_figure(stem, width, height, [&](cairo_t* cr) {
    canvas::set_colour(cr, canvas::from_hex(canvas::kInk));
    canvas::draw_text(cr, title, pad, pad, title_font, HAlign::kLeft, VAlign::kTop);
    // Grid lines and the axis.
    for (double v : ticks.values) {
      const double x = plot_x + v / span_ms * plot_w;
      canvas::set_colour(cr, canvas::from_hex(canvas::kGrid));
      cairo_set_line_width(cr, 1);
      cairo_move_to(cr, x, top - 4);
      cairo_line_to(cr, x, axis_y);
      cairo_stroke(cr);
      canvas::set_colour(cr, canvas::from_hex(canvas::kMuted));
      canvas::draw_text(cr, canvas::format_number(v, ticks.decimals), x, axis_y + 4, tick_font,
                        HAlign::kCenter, VAlign::kTop);
    }
    canvas::set_colour(cr, canvas::from_hex(canvas::kInk));
    canvas::draw_text(cr, "time (ms)", plot_x + plot_w / 2, axis_y + 20, tick_font,
                      HAlign::kCenter, VAlign::kTop);
    double y = top;
    for (const auto& [tid, lane] : lanes) {
      canvas::set_colour(cr, canvas::from_hex(canvas::kInk));
      canvas::draw_text(cr, lane.label, pad, y + row_h / 2, label_font, HAlign::kLeft,
                        VAlign::kMiddle);
      for (const Bar& b : lane.bars) {
        const double x = x_of(b.start), w = std::max(x_of(b.end) - x, 0.6);
        const double by = y + b.depth * row_h;
        canvas::set_colour(cr, colour_of(b));
        cairo_rectangle(cr, x, by + 1, w, row_h - 2);
        cairo_fill(cr);
        if (w > canvas::text_width(cr, b.name, bar_font) + 6) {
          canvas::set_colour(cr, canvas::from_hex(b.range ? canvas::kInk : 0xFFFFFF));
          canvas::draw_text(cr, b.name, x + 3, by + row_h / 2, bar_font, HAlign::kLeft,
                            VAlign::kMiddle);
        }
      }
      y += lane.depths * row_h + lane_gap;
    }
    std::vector<canvas::LegendEntry> legend{{"range", canvas::from_hex(0xBBBBBB)}};
    for (const auto& [name, colour] : categories()) legend.push_back({name, colour});
    canvas::draw_legend_row(cr, legend, plot_x, axis_y + 52, tick_font);
  });
}

}  // namespace ember::report
