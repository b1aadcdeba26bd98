// The report's figures (see figures.h): layout measured first with canvas::Measure, then one
// draw function rendered to SVG and PNG by canvas::render_figure. Conventions follow common
// plotting practice (matplotlib/ggplot defaults: light horizontal grid, no box, ticks at round
// numbers, legend outside the data). Tested in tests/test_report_figures.cpp.
#include "report/figures.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>

#include "tensor/error.h"

namespace ember::report {
namespace {

using canvas::Font;
using canvas::HAlign;
using canvas::LegendEntry;
using canvas::Measure;
using canvas::Rgb;
using canvas::Ticks;
using canvas::VAlign;
using canvas::draw_text;
using canvas::from_hex;
using canvas::set_colour;

constexpr double kPi = 3.14159265358979323846;
constexpr double kPad = 14.0;  // the canvas' outer margin
const Font kTitleFont{16.0, true};
const Font kLabelFont{12.5, false};
const Font kTickFont{11.0, false};
const Font kValueFont{10.5, false};
const Font kHeaderFont{12.5, true};
constexpr uint32_t kBarFill = 0x99C7E0;       // Okabe-Ito blue, 60% towards white
constexpr uint32_t kBarEdge = 0x0072B2;       // Okabe-Ito blue
constexpr uint32_t kHighlightFill = 0xF2CF80; // Okabe-Ito orange, 50% towards white
constexpr uint32_t kHighlightEdge = 0xE69F00; // Okabe-Ito orange
constexpr uint32_t kReference = 0xD55E00;     // Okabe-Ito vermillion

bool finite(double v) { return std::isfinite(v); }

// The height taken by the title (and a legend row under it).
double header_height(const Measure& m, bool legend) {
  return kPad + m.height(kTitleFont) + (legend ? 8 + m.height(kLabelFont) : 0) + 6;
}

void draw_header(cairo_t* cr, double width, const std::string& title,
                 const std::vector<LegendEntry>& legend, double legend_width) {
  set_colour(cr, from_hex(canvas::kInk));
  draw_text(cr, title, width / 2, kPad, kTitleFont, HAlign::kCenter, VAlign::kTop);
  if (legend.empty()) return;
  const double y = kPad + canvas::line_height(cr, kTitleFont) + 8 +
                   canvas::line_height(cr, kLabelFont) / 2;
  canvas::draw_legend_row(cr, legend, (width - legend_width) / 2, y, kLabelFont);
}

// The smallest and largest value seen (none yet: lo > hi).
struct Span {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void include(double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
};

// The tick values within [lo - eps, hi + eps].
std::vector<double> ticks_within(const std::vector<double>& values, double lo, double hi,
                                 double eps) {
  std::vector<double> inside;
  for (double v : values)
    if (v >= lo - eps && v <= hi + eps) inside.push_back(v);
  return inside;
}

// A value axis: its ends and the ticks between them.
struct Axis {
  Ticks ticks;
  double lo = 0, hi = 1;
  bool percent = false;
};

// Round ends around [data_lo, data_hi] unless fixed ends are given; ticks inside the ends.
Axis make_axis(double data_lo, double data_hi, std::optional<double> fixed_lo,
               std::optional<double> fixed_hi, bool percent, const std::string& what) {
  if (fixed_lo) EMBER_CHECK(finite(*fixed_lo), what, ": y_min ", *fixed_lo, " is not finite");
  if (fixed_hi) EMBER_CHECK(finite(*fixed_hi), what, ": y_max ", *fixed_hi, " is not finite");
  if (fixed_lo && fixed_hi)
    EMBER_CHECK(*fixed_lo < *fixed_hi, what, ": y_min ", *fixed_lo, " must be below y_max ",
                *fixed_hi);
  double lo = fixed_lo.value_or(data_lo);
  double hi = fixed_hi.value_or(data_hi);
  // One fixed end beyond the data: a range of one unit of the data's scale.
  if (lo >= hi && (fixed_lo || fixed_hi)) {
    const double span = std::max(std::abs(data_hi - data_lo), std::max(std::abs(lo), 1.0) * 0.1);
    if (fixed_lo)
      hi = lo + span;
    else
      lo = hi - span;
  }
  Axis a;
  a.percent = percent;
  a.ticks = canvas::nice_ticks(lo, hi, 5);
  a.lo = fixed_lo ? lo : a.ticks.lo;
  a.hi = fixed_hi ? hi : a.ticks.hi;
  a.ticks.values = ticks_within(a.ticks.values, a.lo, a.hi, a.ticks.step * 1e-6);
  return a;
}

double to_px(const Axis& a, double lo_px, double hi_px, double v) {
  return lo_px + (v - a.lo) / (a.hi - a.lo) * (hi_px - lo_px);
}
double y_px(const Axis& a, const Rect& plot, double v) {
  return to_px(a, plot.y + plot.height, plot.y, v);
}

// The room left of the plot for tick labels and the rotated axis title.
double y_axis_width(const Measure& m, const Axis& a, const std::string& label) {
  double widest = 0;
  for (double v : a.ticks.values)
    widest = std::max(widest, m.width(canvas::format_tick(v, a.ticks, a.percent), kTickFont));
  return widest + 8 + (label.empty() ? 0 : m.height(kLabelFont) + 10);
}

// An axis title at the canvas' left edge, written upwards, centred on y_centre.
void draw_side_title(cairo_t* cr, const std::string& text, double y_centre) {
  set_colour(cr, from_hex(canvas::kInk));
  draw_text(cr, text, kPad, y_centre, kLabelFont, HAlign::kCenter, VAlign::kTop, -kPi / 2);
}

// Grid lines at whole canvas pixels (crisp in the PNG), tick labels, the axis title.
void draw_y_axis(cairo_t* cr, const Rect& plot, const Axis& a, const std::string& label) {
  cairo_save(cr);
  cairo_set_line_width(cr, 1.0);
  for (double v : a.ticks.values) {
    const double y = std::round(y_px(a, plot, v));
    set_colour(cr, from_hex(canvas::kGrid));
    cairo_move_to(cr, plot.x, y);
    cairo_line_to(cr, plot.x + plot.width, y);
    cairo_stroke(cr);
    set_colour(cr, from_hex(canvas::kMuted));
    draw_text(cr, canvas::format_tick(v, a.ticks, a.percent), plot.x - 7, y, kTickFont,
              HAlign::kRight, VAlign::kMiddle);
  }
  if (!label.empty()) draw_side_title(cr, label, plot.y + plot.height / 2);
  cairo_restore(cr);
}

void draw_x_axis_line(cairo_t* cr, const Rect& plot) {
  set_colour(cr, from_hex(canvas::kInk));
  cairo_set_line_width(cr, 1.0);
  const double y = std::round(plot.y + plot.height) + 0.5;
  cairo_move_to(cr, plot.x, y);
  cairo_line_to(cr, plot.x + plot.width, y);
  cairo_stroke(cr);
}

void clip_to(cairo_t* cr, const Rect& r, double margin) {
  cairo_rectangle(cr, r.x - margin, r.y - margin, r.width + 2 * margin, r.height + 2 * margin);
  cairo_clip(cr);
}

// How much further left than `room` the category labels reach (0 when they fit), for labels
// centred at first_centre + i * slot.
double label_overflow(const canvas::CategoryLabels& labels, double first_centre, double slot,
                      double room) {
  double overflow = 0;
  for (size_t i = 0; i < labels.left_reach.size(); ++i)
    overflow = std::max(overflow, labels.left_reach[i] - first_centre -
                                      static_cast<double>(i) * slot - room);
  return std::ceil(overflow);
}

std::string value_text(double v, const Axis& a) {
  if (a.percent) return canvas::format_number(v * 100, std::max(1, a.ticks.decimals - 1)) + "%";
  return canvas::format_number(v, a.ticks.decimals + 1);
}

// The layout both bar charts share: the value axis at the left, one slot per category along
// the bottom with its label under it, a legend row under the title.
struct CategoryFrame {
  double width = 0, height = 0;  // the canvas
  Rect plot;
  double slot = 0;  // the width each category gets
  canvas::CategoryLabels labels;
};

// `slot_min`: the least width a category gets; `plot_top`: where the plot starts (below the
// header and the room the value labels need).
CategoryFrame category_frame(const Measure& m, const std::string& title, const Axis& axis,
                             const std::string& y_label, double legend_width,
                             const std::vector<std::string>& categories, double slot_min,
                             double plot_top) {
  CategoryFrame f;
  const double left = std::ceil(kPad + y_axis_width(m, axis, y_label));
  const double right = kPad + 6;
  f.width = left + right + std::max(340.0, slot_min * static_cast<double>(categories.size()));
  f.width = std::ceil(
      std::max({f.width, legend_width + 2 * kPad, m.width(title, kTitleFont) + 2 * kPad}));
  f.plot.x = left;
  f.plot.width = f.width - left - right;
  f.slot = f.plot.width / static_cast<double>(categories.size());
  f.labels = canvas::layout_category_labels(m, categories, kLabelFont, f.slot);
  // Long rotated labels under the first bars: shift the plot right rather than cut them.
  const double overflow =
      label_overflow(f.labels, f.plot.x + f.slot / 2, f.slot, f.plot.x - kPad / 2);
  f.plot.x += overflow;
  f.width += overflow;
  f.plot.y = plot_top;
  f.plot.height = 300;
  f.height = std::ceil(f.plot.y + f.plot.height + 8 + f.labels.height + kPad);
  return f;
}

// The axis line under the plot, and category i's label centred under centres[i].
void draw_category_axis(cairo_t* cr, const CategoryFrame& f, const std::vector<double>& centres) {
  draw_x_axis_line(cr, f.plot);
  set_colour(cr, from_hex(canvas::kInk));
  canvas::draw_category_labels(cr, f.labels, centres, f.plot.y + f.plot.height + 8, kLabelFont);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
namespace {

constexpr double kBarSlotMin = 116;  // room for "augmented300" on one line: labels wrap, not rotate

bool has_interval(const BarGroup& b) { return b.low < b.mean || b.high > b.mean; }

// Every value finite, each mean inside its error bar, every highlight index a bar.
void check_bars(const std::string& what, const std::vector<BarGroup>& bars,
                const BarChartOptions& options) {
  EMBER_CHECK(!bars.empty(), what, ": no bars to draw");
  for (const BarGroup& b : bars) {
    EMBER_CHECK(finite(b.mean) && finite(b.low) && finite(b.high), what, ": bar '", b.label,
                "' has a non-finite mean, low or high (", b.mean, ", ", b.low, ", ", b.high, ")");
    const double tol = 1e-9 * std::max(1.0, std::abs(b.mean));
    EMBER_CHECK(b.low <= b.mean + tol && b.high >= b.mean - tol, what, ": bar '", b.label,
                "': its error bar [", b.low, ", ", b.high, "] does not contain its mean ", b.mean);
    for (double p : b.points)
      EMBER_CHECK(finite(p), what, ": bar '", b.label, "' has a non-finite run value ", p);
  }
  for (size_t i : options.highlight)
    EMBER_CHECK(i < bars.size(), what, ": highlight index ", i, " is out of range (", bars.size(),
                " bars)");
  if (options.reference)
    EMBER_CHECK(finite(*options.reference), what, ": the reference value is not finite");
}

// The value axis: every error bar, run and the reference in view, and 0 when bars start there.
Axis bar_axis(const std::string& what, const std::vector<BarGroup>& bars,
              const BarChartOptions& options) {
  Span span;
  for (const BarGroup& b : bars) {
    span.include(b.low);
    span.include(b.high);
    for (double p : b.points) span.include(p);
  }
  if (options.reference) span.include(*options.reference);
  if (options.from_zero) span.include(0.0);
  return make_axis(span.lo, span.hi, options.y_min, options.y_max, options.percent, what);
}

// "mean" always; runs, error bars and the reference line only when the chart has them.
std::vector<LegendEntry> bar_legend(const std::vector<BarGroup>& bars,
                                    const BarChartOptions& options, const Axis& axis) {
  bool any_points = false, any_interval = false;
  for (const BarGroup& b : bars) {
    any_points = any_points || !b.points.empty();
    any_interval = any_interval || has_interval(b);
  }
  std::vector<LegendEntry> legend{{"mean", from_hex(kBarFill), LegendEntry::Kind::kSwatch}};
  if (any_points) legend.push_back({"runs", from_hex(canvas::kInk), LegendEntry::Kind::kDot});
  if (any_interval && !options.error_label.empty())
    legend.push_back({options.error_label, from_hex(canvas::kInk), LegendEntry::Kind::kErrorBar});
  if (options.reference) {
    const std::string value = value_text(*options.reference, axis);
    const std::string text =
        options.reference_label.empty() ? value : options.reference_label + " (" + value + ")";
    legend.push_back({text, from_hex(kReference), LegendEntry::Kind::kDashedLine});
  }
  return legend;
}

// What drawing one bar needs: the plot, its axis, where bars grow from and how wide they are.
struct BarScale {
  Rect plot;
  Axis axis;
  double base = 0;  // the y pixel of the bars' foot
  double bar_width = 0;
  double y(double v) const { return y_px(axis, plot, v); }
};

// The bar from its foot to the mean, clipped to the plot (a fixed range may cut it).
void draw_bar(cairo_t* cr, const BarScale& s, double cx, double mean, bool highlighted) {
  cairo_save(cr);
  clip_to(cr, s.plot, 0);
  const double top = s.y(mean);
  cairo_rectangle(cr, cx - s.bar_width / 2, std::min(top, s.base), s.bar_width,
                  std::abs(s.base - top));
  set_colour(cr, from_hex(highlighted ? kHighlightFill : kBarFill));
  cairo_fill_preserve(cr);
  set_colour(cr, from_hex(highlighted ? kHighlightEdge : kBarEdge));
  cairo_set_line_width(cr, 1.2);
  cairo_stroke(cr);
  cairo_restore(cr);
}

// The [low, high] whisker with a cap at each end; none when the interval is empty.
void draw_error_bar(cairo_t* cr, const BarScale& s, double cx, const BarGroup& b) {
  if (!has_interval(b)) return;
  set_colour(cr, from_hex(canvas::kInk));
  const double y_lo = s.y(b.low);
  const double y_hi = s.y(b.high);
  cairo_set_line_width(cr, 1.5);
  cairo_move_to(cr, cx, y_lo);
  cairo_line_to(cr, cx, y_hi);
  for (double y : {y_lo, y_hi}) {
    cairo_move_to(cr, cx - 7, y);
    cairo_line_to(cr, cx + 7, y);
  }
  cairo_stroke(cr);
}

// Runs spread evenly across the middle half of the bar (sorted, so the spread is stable), each
// a dark dot in a white ring that keeps it visible on the bar and apart from its neighbours.
void draw_run_dots(cairo_t* cr, const BarScale& s, double cx, std::vector<double> points) {
  std::sort(points.begin(), points.end());
  for (size_t k = 0; k < points.size(); ++k) {
    const double spread =
        points.size() == 1 ? 0.0 : (static_cast<double>(k) / (points.size() - 1) - 0.5);
    const double px = cx + spread * s.bar_width * 0.5;
    const double py = s.y(points[k]);
    cairo_arc(cr, px, py, 3.6, 0, 2 * kPi);
    set_colour(cr, from_hex(0xFFFFFF));
    cairo_fill(cr);
    cairo_arc(cr, px, py, 2.8, 0, 2 * kPi);
    set_colour(cr, from_hex(canvas::kInk));
    cairo_fill(cr);
  }
}

// The mean written above the highest of bar, error bar and runs, never above the plot.
void draw_mean_label(cairo_t* cr, const BarScale& s, double cx, const BarGroup& b) {
  double top_value = std::max(b.mean, b.high);
  for (double p : b.points) top_value = std::max(top_value, p);
  const double y = std::max(s.plot.y - 2, std::min(s.y(top_value), s.base) - 5);
  set_colour(cr, from_hex(canvas::kInk));
  draw_text(cr, value_text(b.mean, s.axis), cx, y, kValueFont, HAlign::kCenter, VAlign::kBottom);
}

// A dashed line across the plot at `value`.
void draw_reference_line(cairo_t* cr, const BarScale& s, double value) {
  cairo_save(cr);
  clip_to(cr, s.plot, 0);
  const double dashes[] = {6.0, 4.0};
  cairo_set_dash(cr, dashes, 2, 0);
  cairo_set_line_width(cr, 1.8);
  set_colour(cr, from_hex(kReference));
  const double y = s.y(value);
  cairo_move_to(cr, s.plot.x, y);
  cairo_line_to(cr, s.plot.x + s.plot.width, y);
  cairo_stroke(cr);
  cairo_restore(cr);
}

}  // namespace

FigureFiles bar_chart_with_errors(const std::string& stem, const std::string& title,
                                  const std::string& y_label, const std::vector<BarGroup>& bars,
                                  const BarChartOptions& options) {
  const std::string what = "bar chart '" + stem + "'";
  check_bars(what, bars, options);
  const Axis axis = bar_axis(what, bars, options);
  Measure m;
  const std::vector<LegendEntry> legend = bar_legend(bars, options, axis);
  const double legend_width = canvas::legend_row_width(m, legend, kLabelFont);
  std::vector<std::string> names;
  for (const BarGroup& b : bars) names.push_back(b.label);
  const double plot_top = std::ceil(header_height(m, true) + m.height(kValueFont) + 10);
  const CategoryFrame f =
      category_frame(m, title, axis, y_label, legend_width, names, kBarSlotMin, plot_top);
  std::vector<bool> highlighted(bars.size(), false);
  for (size_t i : options.highlight) highlighted[i] = true;
  BarScale s;
  s.plot = f.plot;
  s.axis = axis;
  s.base = y_px(axis, f.plot, options.from_zero ? std::clamp(0.0, axis.lo, axis.hi) : axis.lo);
  s.bar_width = std::min(f.slot * 0.6, 90.0);

  return canvas::render_figure(stem, f.width, f.height, [&](cairo_t* cr) {
    draw_header(cr, f.width, title, legend, legend_width);
    draw_y_axis(cr, f.plot, axis, y_label);
    std::vector<double> centres;
    for (size_t i = 0; i < bars.size(); ++i) {
      const double cx = f.plot.x + (static_cast<double>(i) + 0.5) * f.slot;
      centres.push_back(cx);
      draw_bar(cr, s, cx, bars[i].mean, highlighted[i]);
      // Whiskers and dots may reach a little beyond the plot's ends.
      cairo_save(cr);
      clip_to(cr, f.plot, 6);
      draw_error_bar(cr, s, cx, bars[i]);
      draw_run_dots(cr, s, cx, bars[i].points);
      cairo_restore(cr);
      if (options.value_labels) draw_mean_label(cr, s, cx, bars[i]);
    }
    if (options.reference) draw_reference_line(cr, s, *options.reference);
    draw_category_axis(cr, f, centres);
  });
}

// ---------------------------------------------------------------------------------------------
namespace {

// Every series has one finite value per category.
void check_grouped(const std::string& what, const std::vector<std::string>& categories,
                   const std::vector<Series>& series) {
  EMBER_CHECK(!categories.empty(), what, ": no categories");
  EMBER_CHECK(!series.empty(), what, ": no series");
  for (const Series& s : series) {
    EMBER_CHECK(s.y.size() == categories.size(), what, ": series '", s.name, "' has ",
                s.y.size(), " values for ", categories.size(), " categories");
    for (double v : s.y)
      EMBER_CHECK(finite(v), what, ": series '", s.name, "' has a non-finite value ", v);
  }
}

// The value written on a bar: counts whole, other values one decimal finer than the ticks.
struct BarValueText {
  bool integral = true;
  int decimals = 0;
  std::string operator()(double v) const {
    return canvas::format_number(v, integral ? 0 : decimals);
  }
};

// Bar widths follow the widest value label; labels wider than their bar are written upwards.
struct GroupedSizes {
  double widest_value = 0;
  double bar_width = 0;
  bool vertical_values = false;
  double slot_min = 0;  // room for one group of bars
};

GroupedSizes grouped_sizes(const Measure& m, const std::vector<Series>& series,
                           const BarValueText& text) {
  GroupedSizes g;
  for (const Series& s : series)
    for (double v : s.y) g.widest_value = std::max(g.widest_value, m.width(text(v), kValueFont));
  g.bar_width = std::clamp(std::ceil(g.widest_value) + 6, 16.0, 34.0);
  g.vertical_values = g.widest_value > g.bar_width - 1;
  g.slot_min = std::max(static_cast<double>(series.size()) * g.bar_width + 18, 60.0);
  return g;
}

// Category i's bars side by side, centred in the slot that starts at slot_x, each with its
// value written above it.
void draw_bar_group(cairo_t* cr, const CategoryFrame& f, const Axis& axis, const GroupedSizes& g,
                    const std::vector<Series>& series, const BarValueText& text, size_t i,
                    double slot_x) {
  const double base = y_px(axis, f.plot, 0.0);
  const double x0 = slot_x + (f.slot - static_cast<double>(series.size()) * g.bar_width) / 2;
  for (size_t j = 0; j < series.size(); ++j) {
    const double v = series[j].y[i];
    const double x = x0 + static_cast<double>(j) * g.bar_width;
    const double top = y_px(axis, f.plot, v);
    cairo_rectangle(cr, x + 1, std::min(top, base), g.bar_width - 2, std::abs(base - top));
    set_colour(cr, canvas::series_colour(j));
    cairo_fill(cr);
    set_colour(cr, from_hex(canvas::kInk));
    const double label_y = std::min(top, base) - 4;
    if (g.vertical_values)
      draw_text(cr, text(v), x + g.bar_width / 2, label_y, kValueFont, HAlign::kLeft,
                VAlign::kMiddle, -kPi / 2);
    else
      draw_text(cr, text(v), x + g.bar_width / 2, label_y, kValueFont, HAlign::kCenter,
                VAlign::kBottom);
  }
}

}  // namespace

FigureFiles grouped_bar_chart(const std::string& stem, const std::string& title,
                              const std::vector<std::string>& categories,
                              const std::vector<Series>& series, const std::string& y_label) {
  const std::string what = "grouped bar chart '" + stem + "'";
  check_grouped(what, categories, series);
  Span span{0.0, 0.0};  // the axis starts at 0
  BarValueText text;
  for (const Series& s : series)
    for (double v : s.y) {
      span.include(v);
      text.integral = text.integral && v == std::round(v);
    }
  const Axis axis = make_axis(span.lo, span.hi, std::nullopt, std::nullopt, false, what);
  text.decimals = axis.ticks.decimals + 1;

  Measure m;
  const GroupedSizes g = grouped_sizes(m, series, text);
  std::vector<LegendEntry> legend;
  for (size_t j = 0; j < series.size(); ++j)
    legend.push_back({series[j].name, canvas::series_colour(j), LegendEntry::Kind::kSwatch});
  const double legend_width = canvas::legend_row_width(m, legend, kLabelFont);
  const double headroom = g.vertical_values ? g.widest_value + 8 : m.height(kValueFont) + 8;
  const double plot_top = std::ceil(header_height(m, true) + headroom);
  const CategoryFrame f =
      category_frame(m, title, axis, y_label, legend_width, categories, g.slot_min, plot_top);

  return canvas::render_figure(stem, f.width, f.height, [&](cairo_t* cr) {
    draw_header(cr, f.width, title, legend, legend_width);
    draw_y_axis(cr, f.plot, axis, y_label);
    std::vector<double> centres;
    for (size_t i = 0; i < categories.size(); ++i) {
      const double slot_x = f.plot.x + static_cast<double>(i) * f.slot;
      centres.push_back(slot_x + f.slot / 2);
      draw_bar_group(cr, f, axis, g, series, text, i, slot_x);
    }
    draw_category_axis(cr, f, centres);
  });
}

// ---------------------------------------------------------------------------------------------
namespace {

constexpr size_t kLineColours = 7;  // beyond them, dashes tell names apart

// What the line chart reads off its series, after checking them.
struct LineData {
  Span x, y;  // y over finite values only
  bool integral_x = true;
  std::vector<std::string> names;  // distinct, in order of first appearance
  std::vector<size_t> colour_of;   // per series: the index of its name
  size_t longest = 0;              // the most points of one series
};

LineData scan_lines(const std::string& what, const std::vector<Series>& series) {
  EMBER_CHECK(!series.empty(), what, ": no series");
  LineData d;
  d.colour_of.resize(series.size());
  for (size_t s = 0; s < series.size(); ++s) {
    const Series& sr = series[s];
    EMBER_CHECK(sr.x.size() == sr.y.size(), what, ": series '", sr.name, "' has ", sr.x.size(),
                " x values but ", sr.y.size(), " y values");
    EMBER_CHECK(!sr.x.empty(), what, ": series '", sr.name, "' has no points");
    d.longest = std::max(d.longest, sr.x.size());
    for (size_t k = 0; k < sr.x.size(); ++k) {
      EMBER_CHECK(finite(sr.x[k]), what, ": series '", sr.name, "' has a non-finite x ", sr.x[k]);
      d.x.include(sr.x[k]);
      d.integral_x = d.integral_x && sr.x[k] == std::round(sr.x[k]);
      if (finite(sr.y[k])) d.y.include(sr.y[k]);  // others are gaps
    }
    const auto found = std::find(d.names.begin(), d.names.end(), sr.name);
    d.colour_of[s] = static_cast<size_t>(found - d.names.begin());
    if (found == d.names.end()) d.names.push_back(sr.name);
  }
  EMBER_CHECK(d.y.lo <= d.y.hi, what, ": no series has a finite y value");
  return d;
}

// The x axis spans the data exactly (curves start at the first epoch), ticks inside it.
Axis line_x_axis(const LineData& d) {
  Axis a;
  a.lo = d.x.hi > d.x.lo ? d.x.lo : d.x.lo - 0.5;  // one x: centred
  a.hi = d.x.hi > d.x.lo ? d.x.hi : d.x.lo + 0.5;
  a.ticks = canvas::nice_ticks(a.lo, a.hi, 6);
  if (d.integral_x && a.ticks.step < 1) {
    // Few whole x values (e.g. epochs 1..3): a tick at each of them, not a rounder step that
    // would leave only the middle one.
    Ticks whole;
    whole.lo = std::floor(a.lo);
    whole.hi = std::ceil(a.hi);
    for (double v = whole.lo; v <= whole.hi + 1e-9; v += 1) whole.values.push_back(v);
    a.ticks = whole;
  }
  a.ticks.values = ticks_within(a.ticks.values, a.lo, a.hi, 1e-9);
  return a;
}

// The line chart's axes and layout: a fixed-size plot, the legend at its right.
struct LineFrame {
  Axis x, y;
  double width = 0, height = 0;  // the canvas
  Rect plot;
  double legend_x = 0;     // the legend's left edge
  double legend_line = 0;  // the distance between legend rows
  bool markers = false;    // a dot at each point (only when series are short)
  double px(double v) const { return to_px(x, plot.x, plot.x + plot.width, v); }
  double py(double v) const { return y_px(y, plot, v); }
};

LineFrame line_frame(const Measure& m, const std::string& what, const std::string& title,
                     const std::string& x_label, const std::string& y_label, const LineData& d,
                     const LineChartOptions& options) {
  LineFrame f;
  f.y = make_axis(d.y.lo, d.y.hi, options.y_min, options.y_max, options.percent, what);
  f.x = line_x_axis(d);
  double legend_width = 0;
  for (const std::string& name : d.names)
    legend_width = std::max(legend_width, m.width(name, kLabelFont));
  legend_width += canvas::kLegendMarkWidth + 6;
  f.legend_line = m.height(kLabelFont) + 6;
  f.plot.x = std::ceil(kPad + y_axis_width(m, f.y, y_label));
  f.plot.y = std::ceil(header_height(m, false) + 8);
  f.plot.width = 560;
  f.plot.height = 320;
  f.legend_x = f.plot.x + f.plot.width + 20;
  f.width = std::ceil(
      std::max(f.legend_x + legend_width + kPad, m.width(title, kTitleFont) + 2 * kPad));
  const double bottom = f.plot.y + f.plot.height + 6 + m.height(kTickFont) + 8 +
                        (x_label.empty() ? 0 : m.height(kLabelFont)) + kPad;
  f.height = std::ceil(std::max(bottom, f.plot.y + f.legend_line * d.names.size() + kPad));
  f.markers = d.longest <= 40;
  return f;
}

// Tick marks under the axis line with their labels, and the axis title under them.
void draw_x_ticks(cairo_t* cr, const LineFrame& f, const std::string& x_label) {
  set_colour(cr, from_hex(canvas::kInk));
  cairo_set_line_width(cr, 1.0);
  const double axis_y = std::round(f.plot.y + f.plot.height) + 0.5;
  for (double v : f.x.ticks.values) {
    const double x = std::round(f.px(v)) + 0.5;
    set_colour(cr, from_hex(canvas::kInk));
    cairo_move_to(cr, x, axis_y);
    cairo_line_to(cr, x, axis_y + 4);
    cairo_stroke(cr);
    set_colour(cr, from_hex(canvas::kMuted));
    draw_text(cr, canvas::format_tick(v, f.x.ticks, false), x, axis_y + 6, kTickFont,
              HAlign::kCenter, VAlign::kTop);
  }
  if (!x_label.empty()) {
    set_colour(cr, from_hex(canvas::kInk));
    draw_text(cr, x_label, f.plot.x + f.plot.width / 2,
              axis_y + 6 + canvas::line_height(cr, kTickFont) + 8, kLabelFont, HAlign::kCenter,
              VAlign::kTop);
  }
}

// One series in colour `c` (dashed beyond the solid colours): a line broken at each gap, and a
// dot on each point when the frame has markers.
void draw_curve(cairo_t* cr, const LineFrame& f, const Series& sr, size_t c) {
  cairo_save(cr);
  set_colour(cr, canvas::series_colour(c));
  if (c >= kLineColours) {
    const double dashes[] = {6.0, 3.0};
    cairo_set_dash(cr, dashes, 2, 0);
  }
  cairo_set_line_width(cr, 1.8);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  bool drawing = false;
  for (size_t k = 0; k < sr.x.size(); ++k) {
    if (!finite(sr.y[k])) {
      drawing = false;
      continue;
    }
    if (drawing)
      cairo_line_to(cr, f.px(sr.x[k]), f.py(sr.y[k]));
    else
      cairo_move_to(cr, f.px(sr.x[k]), f.py(sr.y[k]));
    drawing = true;
  }
  cairo_stroke(cr);
  if (f.markers)
    for (size_t k = 0; k < sr.x.size(); ++k) {
      if (!finite(sr.y[k])) continue;
      cairo_arc(cr, f.px(sr.x[k]), f.py(sr.y[k]), 2.6, 0, 2 * kPi);
      cairo_fill(cr);
    }
  cairo_restore(cr);
}

// One legend entry per distinct name, one under the other, at the right of the plot.
void draw_side_legend(cairo_t* cr, const LineFrame& f, const std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i) {
    const double y = f.plot.y + f.legend_line * (static_cast<double>(i) + 0.5);
    const LegendEntry entry{names[i], canvas::series_colour(i),
                            i < kLineColours ? LegendEntry::Kind::kLine
                                             : LegendEntry::Kind::kDashedLine};
    canvas::draw_legend_mark(cr, entry, f.legend_x, y);
    set_colour(cr, from_hex(canvas::kInk));
    draw_text(cr, entry.label, f.legend_x + canvas::kLegendMarkWidth + 6, y, kLabelFont,
              HAlign::kLeft, VAlign::kMiddle);
  }
}

}  // namespace

FigureFiles line_chart(const std::string& stem, const std::string& title,
                       const std::string& x_label, const std::string& y_label,
                       const std::vector<Series>& series, const LineChartOptions& options) {
  const std::string what = "line chart '" + stem + "'";
  const LineData d = scan_lines(what, series);
  Measure m;
  const LineFrame f = line_frame(m, what, title, x_label, y_label, d, options);

  return canvas::render_figure(stem, f.width, f.height, [&](cairo_t* cr) {
    draw_header(cr, f.width, title, {}, 0);
    draw_y_axis(cr, f.plot, f.y, y_label);
    draw_x_ticks(cr, f, x_label);
    // Curves are clipped to the plot (a fixed y range may cut them).
    cairo_save(cr);
    clip_to(cr, f.plot, 4);
    for (size_t s = 0; s < series.size(); ++s) draw_curve(cr, f, series[s], d.colour_of[s]);
    cairo_restore(cr);
    draw_x_axis_line(cr, f.plot);
    draw_side_legend(cr, f, d.names);
  });
}

// ---------------------------------------------------------------------------------------------
namespace {

const Font kCountFont{11.0, false};

void check_confusion(const std::string& what, const std::vector<std::string>& classes,
                     const std::vector<std::vector<long long>>& counts) {
  EMBER_CHECK(!classes.empty(), what, ": no classes");
  EMBER_CHECK(counts.size() == classes.size(), what, ": counts has ", counts.size(),
              " rows for ", classes.size(), " classes");
  for (size_t i = 0; i < counts.size(); ++i) {
    EMBER_CHECK(counts[i].size() == classes.size(), what, ": counts row ", i, " ('", classes[i],
                "') has ", counts[i].size(), " columns for ", classes.size(), " classes");
    for (long long c : counts[i])
      EMBER_CHECK(c >= 0, what, ": counts row ", i, " ('", classes[i], "') has a negative count ",
                  c);
  }
}

struct ConfusionGeometry {
  ConfusionLayout layout;
  canvas::CategoryLabels column_labels;
  double legend_x = 0;  // the colour bar's left edge
};

ConfusionGeometry confusion_geometry(const Measure& m, const std::vector<std::string>& classes,
                                     const std::vector<std::vector<long long>>& counts,
                                     const std::string& title) {
  double widest_count = 0, widest_class = 0;
  for (const auto& row : counts)
    for (long long c : row)
      widest_count = std::max(widest_count, m.width(std::to_string(c), kCountFont));
  for (const std::string& c : classes)
    widest_class = std::max(widest_class, m.width(c, kLabelFont));
  ConfusionGeometry g;
  ConfusionLayout& l = g.layout;
  l.cell = std::max(36.0, std::ceil(widest_count + 12));
  const double n = static_cast<double>(classes.size());
  l.matrix.x = std::ceil(kPad + m.height(kLabelFont) + 10 + widest_class + 8);
  l.matrix.y = std::ceil(header_height(m, false) + 8);
  l.matrix.width = l.matrix.height = n * l.cell;
  g.column_labels = canvas::layout_category_labels(m, classes, kLabelFont, l.cell);
  l.matrix.x +=
      label_overflow(g.column_labels, l.matrix.x + l.cell / 2, l.cell, l.matrix.x - kPad / 2);
  g.legend_x = l.matrix.x + l.matrix.width + 18;
  const double right = g.legend_x + 14 + 6 + m.width("100%", kTickFont) + kPad;
  // Wide rotated column labels run left below the row labels, never beyond the canvas.
  l.width = std::ceil(std::max(right, m.width(title, kTitleFont) + 2 * kPad));
  l.height = std::ceil(l.matrix.y + l.matrix.height + 8 + g.column_labels.height + 10 +
                       m.height(kLabelFont) + kPad);
  return g;
}

}  // namespace

ConfusionLayout confusion_matrix_layout(const std::vector<std::string>& classes,
                                        const std::vector<std::vector<long long>>& counts) {
  check_confusion("confusion matrix", classes, counts);
  Measure m;
  return confusion_geometry(m, classes, counts, "").layout;
}

namespace {

// Each cell coloured by its share of the row, with the count written on it (white on dark).
void draw_confusion_cells(cairo_t* cr, const ConfusionLayout& l,
                          const std::vector<std::vector<long long>>& counts) {
  for (size_t i = 0; i < counts.size(); ++i) {
    long long total = 0;
    for (long long c : counts[i]) total += c;
    for (size_t j = 0; j < counts[i].size(); ++j) {
      // An empty row (a class absent from the test set) reads as all zero shares.
      const double share = total > 0 ? static_cast<double>(counts[i][j]) / total : 0.0;
      const double x = l.matrix.x + static_cast<double>(j) * l.cell;
      const double y = l.matrix.y + static_cast<double>(i) * l.cell;
      cairo_rectangle(cr, x, y, l.cell, l.cell);
      set_colour(cr, canvas::sequential_colour(share));
      cairo_fill(cr);
      set_colour(cr, from_hex(share > 0.5 ? 0xFFFFFF : canvas::kInk));
      draw_text(cr, std::to_string(counts[i][j]), x + l.cell / 2, y + l.cell / 2, kCountFont,
                HAlign::kCenter, VAlign::kMiddle);
    }
  }
}

// White hairlines between the n x n cells, then a grey frame around them.
void draw_cell_rules(cairo_t* cr, const ConfusionLayout& l, size_t n) {
  cairo_set_line_width(cr, 1.0);
  set_colour(cr, from_hex(0xFFFFFF));
  for (size_t k = 1; k < n; ++k) {
    const double d = static_cast<double>(k) * l.cell;
    cairo_move_to(cr, l.matrix.x + d, l.matrix.y);
    cairo_line_to(cr, l.matrix.x + d, l.matrix.y + l.matrix.height);
    cairo_move_to(cr, l.matrix.x, l.matrix.y + d);
    cairo_line_to(cr, l.matrix.x + l.matrix.width, l.matrix.y + d);
  }
  cairo_stroke(cr);
  set_colour(cr, from_hex(0xBBBBBB));
  cairo_rectangle(cr, l.matrix.x, l.matrix.y, l.matrix.width, l.matrix.height);
  cairo_stroke(cr);
}

// Class names left of the rows and under the columns, and the two axis titles.
void draw_class_labels(cairo_t* cr, const ConfusionGeometry& g,
                       const std::vector<std::string>& classes) {
  const ConfusionLayout& l = g.layout;
  set_colour(cr, from_hex(canvas::kInk));
  std::vector<double> centres;
  for (size_t i = 0; i < classes.size(); ++i) {
    const double c = (static_cast<double>(i) + 0.5) * l.cell;
    centres.push_back(l.matrix.x + c);
    draw_text(cr, classes[i], l.matrix.x - 8, l.matrix.y + c, kLabelFont, HAlign::kRight,
              VAlign::kMiddle);
  }
  const double labels_top = l.matrix.y + l.matrix.height + 8;
  canvas::draw_category_labels(cr, g.column_labels, centres, labels_top, kLabelFont);
  draw_text(cr, "predicted class", l.matrix.x + l.matrix.width / 2,
            labels_top + g.column_labels.height + 10, kLabelFont, HAlign::kCenter, VAlign::kTop);
  draw_side_title(cr, "true class", l.matrix.y + l.matrix.height / 2);
}

// The colour bar right of the matrix: the ramp's stops as a linear gradient (the same
// piecewise-linear ramp as the cells), labelled 0% to 100%.
void draw_colour_bar(cairo_t* cr, const ConfusionGeometry& g) {
  const Rect& matrix = g.layout.matrix;
  cairo_pattern_t* ramp = cairo_pattern_create_linear(0, matrix.y + matrix.height, 0, matrix.y);
  for (int s = 0; s <= 4; ++s) {
    const Rgb c = canvas::sequential_colour(s / 4.0);
    cairo_pattern_add_color_stop_rgb(ramp, s / 4.0, c.r, c.g, c.b);
  }
  cairo_rectangle(cr, g.legend_x, matrix.y, 14, matrix.height);
  cairo_set_source(cr, ramp);
  cairo_fill(cr);
  cairo_pattern_destroy(ramp);
  set_colour(cr, from_hex(0xBBBBBB));
  cairo_rectangle(cr, g.legend_x, matrix.y, 14, matrix.height);
  cairo_stroke(cr);
  for (int s = 0; s <= 4; ++s) {
    const double y = matrix.y + matrix.height * (1.0 - s / 4.0);
    set_colour(cr, from_hex(canvas::kMuted));
    draw_text(cr, std::to_string(s * 25) + "%", g.legend_x + 14 + 5, y, kTickFont,
              HAlign::kLeft, VAlign::kMiddle);
  }
}

}  // namespace

FigureFiles confusion_matrix_chart(const std::string& stem, const std::string& title,
                                   const std::vector<std::string>& classes,
                                   const std::vector<std::vector<long long>>& counts) {
  const std::string what = "confusion matrix '" + stem + "'";
  check_confusion(what, classes, counts);
  Measure m;
  const ConfusionGeometry g = confusion_geometry(m, classes, counts, title);

  return canvas::render_figure(stem, g.layout.width, g.layout.height, [&](cairo_t* cr) {
    draw_header(cr, g.layout.width, title, {}, 0);
    draw_confusion_cells(cr, g.layout, counts);
    draw_cell_rules(cr, g.layout, classes.size());
    draw_class_labels(cr, g, classes);
    draw_colour_bar(cr, g);
  });
}

// ---------------------------------------------------------------------------------------------
namespace {

constexpr double kImageGap = 2;   // between images of one block
constexpr double kBlockGap = 18;  // between the real and the generated block

void check_image(const std::string& what, const std::string& row, const char* kind, size_t k,
                 const RgbImage& image, int width, int height) {
  const std::string name =
      std::string(kind) + " image " + std::to_string(k) + " of row '" + row + "'";
  EMBER_CHECK(image.width > 0 && image.height > 0, what, ": ", name, " has size ", image.width,
              " x ", image.height);
  EMBER_CHECK(image.pixels.size() == static_cast<size_t>(image.width) * image.height * 3, what,
              ": ", name, " has ", image.pixels.size(), " bytes, not ", image.width, " x ",
              image.height, " x 3");
  EMBER_CHECK(image.width == width && image.height == height, what, ": ", name, " is ",
              image.width, " x ", image.height, " but the first image is ", width, " x ", height);
}

// The layout plus what the drawing needs, after checking the rows (what names the figure).
struct SampleGeometry {
  SampleGridLayout layout;
  double top = 0;          // the first row's top
  double row_height = 0;   // image height; rows are row_height + kImageGap apart
  double label_right = 0;  // row labels end here
  double real_centre = 0, generated_centre = 0;  // header centres
  bool any_real = false, any_generated = false;
};

SampleGeometry layout_samples(const std::string& what, const std::string& title,
                              const std::vector<SampleRow>& rows, int scale) {
  EMBER_CHECK(!rows.empty(), what, ": no rows");
  EMBER_CHECK(scale >= 1 && scale <= 64, what, ": scale ", scale, " must be in [1, 64]");
  const RgbImage* first = nullptr;
  size_t n_real = 0, n_generated = 0;
  for (const SampleRow& r : rows) {
    n_real = std::max(n_real, r.real.size());
    n_generated = std::max(n_generated, r.generated.size());
    if (!first && !r.real.empty()) first = &r.real[0];
    if (!first && !r.generated.empty()) first = &r.generated[0];
  }
  EMBER_CHECK(first != nullptr, what, ": no images in any row");
  for (const SampleRow& r : rows) {
    for (size_t k = 0; k < r.real.size(); ++k)
      check_image(what, r.label, "real", k, r.real[k], first->width, first->height);
    for (size_t k = 0; k < r.generated.size(); ++k)
      check_image(what, r.label, "generated", k, r.generated[k], first->width, first->height);
  }
  Measure m;
  double widest_label = 0;
  for (const SampleRow& r : rows)
    widest_label = std::max(widest_label, m.width(r.label, kLabelFont));
  const double iw = static_cast<double>(first->width) * scale;
  const double ih = static_cast<double>(first->height) * scale;
  SampleGeometry g;
  g.any_real = n_real > 0;
  g.any_generated = n_generated > 0;
  g.row_height = ih;
  const double left = std::ceil(kPad + widest_label + 10);
  g.label_right = left - 10;
  g.top = std::ceil(header_height(m, false) + m.height(kHeaderFont) + 6);
  // Whole-pixel positions: with whole scales every image pixel covers whole PNG pixels.
  const double real_x = left;
  const double real_end = real_x + static_cast<double>(n_real) * (iw + kImageGap) - kImageGap;
  const double generated_x = g.any_real ? real_end + kBlockGap : left;
  const double generated_end =
      generated_x + static_cast<double>(n_generated) * (iw + kImageGap) - kImageGap;
  g.real_centre = (real_x + real_end) / 2;
  g.generated_centre = (generated_x + generated_end) / 2;
  SampleGridLayout& l = g.layout;
  for (size_t i = 0; i < rows.size(); ++i) {
    const double y = g.top + static_cast<double>(i) * (ih + kImageGap);
    l.real.emplace_back();
    l.generated.emplace_back();
    for (size_t k = 0; k < rows[i].real.size(); ++k)
      l.real.back().push_back({real_x + static_cast<double>(k) * (iw + kImageGap), y, iw, ih});
    for (size_t k = 0; k < rows[i].generated.size(); ++k)
      l.generated.back().push_back(
          {generated_x + static_cast<double>(k) * (iw + kImageGap), y, iw, ih});
  }
  // Headers wider than their block (one or two small images) must still fit.
  const double right = std::max(g.any_generated ? generated_end : real_end,
                                std::max(g.real_centre + m.width("real", kHeaderFont) / 2,
                                         g.generated_centre +
                                             m.width("generated", kHeaderFont) / 2));
  l.width = std::ceil(std::max(right + kPad, m.width(title, kTitleFont) + 2 * kPad));
  l.height = g.top + static_cast<double>(rows.size()) * (ih + kImageGap) - kImageGap + kPad;
  return g;
}

// The image as a cairo RGB24 surface (one uint32 0x00RRGGBB per pixel, rows `stride` apart).
cairo_surface_t* to_surface(const RgbImage& image) {
  cairo_surface_t* s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, image.width, image.height);
  cairo_surface_flush(s);
  unsigned char* data = cairo_image_surface_get_data(s);
  const int stride = cairo_image_surface_get_stride(s);
  for (int y = 0; y < image.height; ++y) {
    auto* row = reinterpret_cast<uint32_t*>(data + static_cast<size_t>(y) * stride);
    for (int x = 0; x < image.width; ++x) {
      const uint8_t* p = &image.pixels[(static_cast<size_t>(y) * image.width + x) * 3];
      row[x] = (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2];
    }
  }
  cairo_surface_mark_dirty(s);
  return s;
}

void draw_image(cairo_t* cr, const RgbImage& image, const Rect& at, int scale) {
  cairo_surface_t* s = to_surface(image);
  cairo_save(cr);
  cairo_translate(cr, at.x, at.y);
  cairo_scale(cr, scale, scale);
  cairo_set_source_surface(cr, s, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
  cairo_rectangle(cr, 0, 0, image.width, image.height);
  cairo_fill(cr);
  cairo_restore(cr);
  cairo_surface_destroy(s);
}

}  // namespace

SampleGridLayout sample_grid_layout(const std::string& title, const std::vector<SampleRow>& rows,
                                    int scale) {
  return layout_samples("sample grid", title, rows, scale).layout;
}

FigureFiles sample_grid(const std::string& stem, const std::string& title,
                        const std::vector<SampleRow>& rows, int scale) {
  const SampleGeometry g = layout_samples("sample grid '" + stem + "'", title, rows, scale);
  const SampleGridLayout& l = g.layout;
  return canvas::render_figure(stem, l.width, l.height, [&](cairo_t* cr) {
    draw_header(cr, l.width, title, {}, 0);
    set_colour(cr, from_hex(canvas::kInk));
    if (g.any_real)
      draw_text(cr, "real", g.real_centre, g.top - 5, kHeaderFont, HAlign::kCenter,
                VAlign::kBottom);
    if (g.any_generated)
      draw_text(cr, "generated", g.generated_centre, g.top - 5, kHeaderFont, HAlign::kCenter,
                VAlign::kBottom);
    for (size_t i = 0; i < rows.size(); ++i) {
      const double y = g.top + static_cast<double>(i) * (g.row_height + kImageGap);
      set_colour(cr, from_hex(canvas::kInk));
      draw_text(cr, rows[i].label, g.label_right, y + g.row_height / 2, kLabelFont,
                HAlign::kRight, VAlign::kMiddle);
      for (size_t k = 0; k < rows[i].real.size(); ++k)
        draw_image(cr, rows[i].real[k], l.real[i][k], scale);
      for (size_t k = 0; k < rows[i].generated.size(); ++k)
        draw_image(cr, rows[i].generated[k], l.generated[i][k], scale);
    }
  }, /*pixelated=*/true);
}

}  // namespace ember::report
