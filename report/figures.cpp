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
  if (lo >= hi && (fixed_lo || fixed_hi)) {  // one fixed end beyond the data: a range of one unit of the data's scale
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
  const double eps = a.ticks.step * 1e-6;
  std::vector<double> inside;
  for (double v : a.ticks.values)
    if (v >= a.lo - eps && v <= a.hi + eps) inside.push_back(v);
  a.ticks.values = inside;
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
  if (!label.empty()) {
    set_colour(cr, from_hex(canvas::kInk));
    draw_text(cr, label, kPad, plot.y + plot.height / 2, kLabelFont, HAlign::kCenter,
              VAlign::kTop, -kPi / 2);
  }
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

}  // namespace

// ---------------------------------------------------------------------------------------------
FigureFiles bar_chart_with_errors(const std::string& stem, const std::string& title,
                                  const std::string& y_label, const std::vector<BarGroup>& bars,
                                  const BarChartOptions& options) {
  const std::string what = "bar chart '" + stem + "'";
  EMBER_CHECK(!bars.empty(), what, ": no bars to draw");
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  auto include = [&](double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  };
  bool any_points = false, any_interval = false;
  for (const BarGroup& b : bars) {
    EMBER_CHECK(finite(b.mean) && finite(b.low) && finite(b.high), what, ": bar '", b.label,
                "' has a non-finite mean, low or high (", b.mean, ", ", b.low, ", ", b.high, ")");
    const double tol = 1e-9 * std::max(1.0, std::abs(b.mean));
    EMBER_CHECK(b.low <= b.mean + tol && b.high >= b.mean - tol, what, ": bar '", b.label,
                "': its error bar [", b.low, ", ", b.high, "] does not contain its mean ", b.mean);
    include(b.low);
    include(b.high);
    any_interval = any_interval || b.low < b.mean || b.high > b.mean;
    for (double p : b.points) {
      EMBER_CHECK(finite(p), what, ": bar '", b.label, "' has a non-finite run value ", p);
      include(p);
      any_points = true;
    }
  }
  for (size_t i : options.highlight)
    EMBER_CHECK(i < bars.size(), what, ": highlight index ", i, " is out of range (", bars.size(),
                " bars)");
  if (options.reference) {
    EMBER_CHECK(finite(*options.reference), what, ": the reference value is not finite");
    include(*options.reference);
  }
  if (options.from_zero) include(0.0);
  const Axis axis = make_axis(lo, hi, options.y_min, options.y_max, options.percent, what);

  Measure m;
  std::vector<LegendEntry> legend{{"mean", from_hex(kBarFill), LegendEntry::Kind::kSwatch}};
  if (any_points) legend.push_back({"runs", from_hex(canvas::kInk), LegendEntry::Kind::kDot});
  if (any_interval && !options.error_label.empty())
    legend.push_back({options.error_label, from_hex(canvas::kInk), LegendEntry::Kind::kErrorBar});
  if (options.reference) {
    const std::string value = value_text(*options.reference, axis);
    legend.push_back({options.reference_label.empty() ? value
                                                      : options.reference_label + " (" + value + ")",
                      from_hex(kReference), LegendEntry::Kind::kDashedLine});
  }
  const double legend_width = canvas::legend_row_width(m, legend, kLabelFont);

  const double left = std::ceil(kPad + y_axis_width(m, axis, y_label));
  const double right = kPad + 6;
  const double slot_min = 116;  // room for "augmented300" on one line: labels wrap, not rotate
  double width = left + right + std::max(340.0, slot_min * static_cast<double>(bars.size()));
  width = std::max({width, legend_width + 2 * kPad, m.width(title, kTitleFont) + 2 * kPad});
  width = std::ceil(width);
  Rect plot;
  plot.x = left;
  plot.width = width - left - right;
  const double slot = plot.width / static_cast<double>(bars.size());
  std::vector<std::string> names;
  for (const BarGroup& b : bars) names.push_back(b.label);
  const canvas::CategoryLabels labels =
      canvas::layout_category_labels(m, names, kLabelFont, slot);
  // Long rotated labels under the first bars: shift the plot right rather than cut them.
  const double overflow = label_overflow(labels, plot.x + slot / 2, slot, plot.x - kPad / 2);
  plot.x += overflow;
  width += overflow;
  plot.y = std::ceil(header_height(m, true) + m.height(kValueFont) + 10);
  plot.height = 300;
  const double height = std::ceil(plot.y + plot.height + 8 + labels.height + kPad);

  std::vector<bool> highlighted(bars.size(), false);
  for (size_t i : options.highlight) highlighted[i] = true;

  return canvas::render_figure(stem, width, height, [&](cairo_t* cr) {
    draw_header(cr, width, title, legend, legend_width);
    draw_y_axis(cr, plot, axis, y_label);
    const double base_value = options.from_zero ? std::clamp(0.0, axis.lo, axis.hi) : axis.lo;
    const double base = y_px(axis, plot, base_value);
    const double bar_width = std::min(slot * 0.6, 90.0);
    std::vector<double> centres;
    for (size_t i = 0; i < bars.size(); ++i) {
      const BarGroup& b = bars[i];
      const double cx = plot.x + (static_cast<double>(i) + 0.5) * slot;
      centres.push_back(cx);
      cairo_save(cr);
      clip_to(cr, plot, 0);
      const double top = y_px(axis, plot, b.mean);
      cairo_rectangle(cr, cx - bar_width / 2, std::min(top, base), bar_width, std::abs(base - top));
      set_colour(cr, from_hex(highlighted[i] ? kHighlightFill : kBarFill));
      cairo_fill_preserve(cr);
      set_colour(cr, from_hex(highlighted[i] ? kHighlightEdge : kBarEdge));
      cairo_set_line_width(cr, 1.2);
      cairo_stroke(cr);
      cairo_restore(cr);

      cairo_save(cr);
      clip_to(cr, plot, 6);
      set_colour(cr, from_hex(canvas::kInk));
      if (b.low < b.mean || b.high > b.mean) {
        const double y_lo = y_px(axis, plot, b.low);
        const double y_hi = y_px(axis, plot, b.high);
        cairo_set_line_width(cr, 1.5);
        cairo_move_to(cr, cx, y_lo);
        cairo_line_to(cr, cx, y_hi);
        for (double y : {y_lo, y_hi}) {
          cairo_move_to(cr, cx - 7, y);
          cairo_line_to(cr, cx + 7, y);
        }
        cairo_stroke(cr);
      }
      // Runs spread evenly across the middle half of the bar (sorted, so the spread is stable).
      std::vector<double> points = b.points;
      std::sort(points.begin(), points.end());
      for (size_t k = 0; k < points.size(); ++k) {
        const double spread =
            points.size() == 1 ? 0.0 : (static_cast<double>(k) / (points.size() - 1) - 0.5);
        const double px = cx + spread * bar_width * 0.5;
        const double py = y_px(axis, plot, points[k]);
        cairo_arc(cr, px, py, 3.6, 0, 2 * kPi);
        set_colour(cr, from_hex(0xFFFFFF));
        cairo_fill(cr);
        cairo_arc(cr, px, py, 2.8, 0, 2 * kPi);
        set_colour(cr, from_hex(canvas::kInk));
        cairo_fill(cr);
      }
      cairo_restore(cr);

      if (options.value_labels) {
        double top_value = std::max(b.mean, b.high);
        for (double p : b.points) top_value = std::max(top_value, p);
        const double y = std::max(plot.y - 2, std::min(y_px(axis, plot, top_value), base) - 5);
        set_colour(cr, from_hex(canvas::kInk));
        draw_text(cr, value_text(b.mean, axis), cx, y, kValueFont, HAlign::kCenter,
                  VAlign::kBottom);
      }
    }
    if (options.reference) {
      cairo_save(cr);
      clip_to(cr, plot, 0);
      const double dashes[] = {6.0, 4.0};
      cairo_set_dash(cr, dashes, 2, 0);
      cairo_set_line_width(cr, 1.8);
      set_colour(cr, from_hex(kReference));
      const double y = y_px(axis, plot, *options.reference);
      cairo_move_to(cr, plot.x, y);
      cairo_line_to(cr, plot.x + plot.width, y);
      cairo_stroke(cr);
      cairo_restore(cr);
    }
    draw_x_axis_line(cr, plot);
    set_colour(cr, from_hex(canvas::kInk));
    canvas::draw_category_labels(cr, labels, centres, plot.y + plot.height + 8, kLabelFont);
  });
}

// ---------------------------------------------------------------------------------------------
FigureFiles grouped_bar_chart(const std::string& stem, const std::string& title,
                              const std::vector<std::string>& categories,
                              const std::vector<Series>& series, const std::string& y_label) {
  const std::string what = "grouped bar chart '" + stem + "'";
  EMBER_CHECK(!categories.empty(), what, ": no categories");
  EMBER_CHECK(!series.empty(), what, ": no series");
  double hi = 0, lo = 0;
  bool integral = true;
  for (const Series& s : series) {
    EMBER_CHECK(s.y.size() == categories.size(), what, ": series '", s.name, "' has ",
                s.y.size(), " values for ", categories.size(), " categories");
    for (double v : s.y) {
      EMBER_CHECK(finite(v), what, ": series '", s.name, "' has a non-finite value ", v);
      hi = std::max(hi, v);
      lo = std::min(lo, v);
      integral = integral && v == std::round(v);
    }
  }
  const Axis axis = make_axis(lo, hi, std::nullopt, std::nullopt, false, what);
  auto label_of = [&](double v) {
    return canvas::format_number(v, integral ? 0 : axis.ticks.decimals + 1);
  };

  Measure m;
  double widest_value = 0;
  for (const Series& s : series)
    for (double v : s.y) widest_value = std::max(widest_value, m.width(label_of(v), kValueFont));
  const double bar_width = std::clamp(std::ceil(widest_value) + 6, 16.0, 34.0);
  const bool vertical_values = widest_value > bar_width - 1;
  const double n_series = static_cast<double>(series.size());
  double slot = std::max(n_series * bar_width + 18, 60.0);

  std::vector<LegendEntry> legend;
  for (size_t j = 0; j < series.size(); ++j)
    legend.push_back({series[j].name, canvas::series_colour(j), LegendEntry::Kind::kSwatch});
  const double legend_width = canvas::legend_row_width(m, legend, kLabelFont);

  const double left = std::ceil(kPad + y_axis_width(m, axis, y_label));
  const double right = kPad + 6;
  double width = left + right + std::max(340.0, slot * static_cast<double>(categories.size()));
  width = std::ceil(std::max({width, legend_width + 2 * kPad, m.width(title, kTitleFont) + 2 * kPad}));
  Rect plot;
  plot.x = left;
  plot.width = width - left - right;
  slot = plot.width / static_cast<double>(categories.size());
  const canvas::CategoryLabels labels =
      canvas::layout_category_labels(m, categories, kLabelFont, slot);
  const double overflow = label_overflow(labels, plot.x + slot / 2, slot, plot.x - kPad / 2);
  plot.x += overflow;
  width += overflow;
  const double headroom = vertical_values ? widest_value + 8 : m.height(kValueFont) + 8;
  plot.y = std::ceil(header_height(m, true) + headroom);
  plot.height = 300;
  const double height = std::ceil(plot.y + plot.height + 8 + labels.height + kPad);

  return canvas::render_figure(stem, width, height, [&](cairo_t* cr) {
    draw_header(cr, width, title, legend, legend_width);
    draw_y_axis(cr, plot, axis, y_label);
    const double base = y_px(axis, plot, 0.0);
    std::vector<double> centres;
    for (size_t i = 0; i < categories.size(); ++i) {
      const double slot_x = plot.x + static_cast<double>(i) * slot;
      centres.push_back(slot_x + slot / 2);
      const double x0 = slot_x + (slot - n_series * bar_width) / 2;
      for (size_t j = 0; j < series.size(); ++j) {
        const double v = series[j].y[i];
        const double x = x0 + static_cast<double>(j) * bar_width;
        const double top = y_px(axis, plot, v);
        cairo_rectangle(cr, x + 1, std::min(top, base), bar_width - 2, std::abs(base - top));
        set_colour(cr, canvas::series_colour(j));
        cairo_fill(cr);
        set_colour(cr, from_hex(canvas::kInk));
        const double label_y = std::min(top, base) - 4;
        if (vertical_values)
          draw_text(cr, label_of(v), x + bar_width / 2, label_y, kValueFont, HAlign::kLeft,
                    VAlign::kMiddle, -kPi / 2);
        else
          draw_text(cr, label_of(v), x + bar_width / 2, label_y, kValueFont, HAlign::kCenter,
                    VAlign::kBottom);
      }
    }
    draw_x_axis_line(cr, plot);
    set_colour(cr, from_hex(canvas::kInk));
    canvas::draw_category_labels(cr, labels, centres, plot.y + plot.height + 8, kLabelFont);
  });
}

// ---------------------------------------------------------------------------------------------
FigureFiles line_chart(const std::string& stem, const std::string& title,
                       const std::string& x_label, const std::string& y_label,
                       const std::vector<Series>& series, const LineChartOptions& options) {
  const std::string what = "line chart '" + stem + "'";
  EMBER_CHECK(!series.empty(), what, ": no series");
  const double inf = std::numeric_limits<double>::infinity();
  double x_lo = inf, x_hi = -inf, y_lo = inf, y_hi = -inf;
  bool integral_x = true;
  std::vector<std::string> names;  // distinct, in order of first appearance
  std::vector<size_t> colour_of(series.size());
  size_t longest = 0;
  for (size_t s = 0; s < series.size(); ++s) {
    const Series& sr = series[s];
    EMBER_CHECK(sr.x.size() == sr.y.size(), what, ": series '", sr.name, "' has ", sr.x.size(),
                " x values but ", sr.y.size(), " y values");
    EMBER_CHECK(!sr.x.empty(), what, ": series '", sr.name, "' has no points");
    longest = std::max(longest, sr.x.size());
    for (size_t k = 0; k < sr.x.size(); ++k) {
      EMBER_CHECK(finite(sr.x[k]), what, ": series '", sr.name, "' has a non-finite x ", sr.x[k]);
      x_lo = std::min(x_lo, sr.x[k]);
      x_hi = std::max(x_hi, sr.x[k]);
      integral_x = integral_x && sr.x[k] == std::round(sr.x[k]);
      if (!finite(sr.y[k])) continue;  // a gap
      y_lo = std::min(y_lo, sr.y[k]);
      y_hi = std::max(y_hi, sr.y[k]);
    }
    const auto found = std::find(names.begin(), names.end(), sr.name);
    colour_of[s] = static_cast<size_t>(found - names.begin());
    if (found == names.end()) names.push_back(sr.name);
  }
  EMBER_CHECK(y_lo <= y_hi, what, ": no series has a finite y value");
  const Axis y_axis = make_axis(y_lo, y_hi, options.y_min, options.y_max, options.percent, what);
  // The x axis spans the data exactly (curves start at the first epoch), ticks inside it.
  Axis x_axis;
  x_axis.lo = x_hi > x_lo ? x_lo : x_lo - 0.5;  // one x: centred
  x_axis.hi = x_hi > x_lo ? x_hi : x_lo + 0.5;
  x_axis.ticks = canvas::nice_ticks(x_axis.lo, x_axis.hi, 6);
  if (integral_x && x_axis.ticks.step < 1) {
    // Few whole x values (e.g. epochs 1..3): a tick at each of them, not a rounder step that
    // would leave only the middle one.
    canvas::Ticks whole;
    whole.lo = std::floor(x_axis.lo);
    whole.hi = std::ceil(x_axis.hi);
    for (double v = whole.lo; v <= whole.hi + 1e-9; v += 1) whole.values.push_back(v);
    x_axis.ticks = whole;
  }
  {
    std::vector<double> inside;
    for (double v : x_axis.ticks.values)
      if (v >= x_axis.lo - 1e-9 && v <= x_axis.hi + 1e-9) inside.push_back(v);
    x_axis.ticks.values = inside;
  }

  constexpr size_t kColours = 7;  // beyond them, dashes tell names apart
  auto entry_of = [&](size_t index) {
    return LegendEntry{names[index], canvas::series_colour(index),
                       index < kColours ? LegendEntry::Kind::kLine : LegendEntry::Kind::kDashedLine};
  };
  Measure m;
  double legend_width = 0;
  for (const std::string& name : names) legend_width = std::max(legend_width, m.width(name, kLabelFont));
  legend_width += canvas::kLegendMarkWidth + 6;
  const double legend_line = m.height(kLabelFont) + 6;

  Rect plot;
  plot.x = std::ceil(kPad + y_axis_width(m, y_axis, y_label));
  plot.y = std::ceil(header_height(m, false) + 8);
  plot.width = 560;
  plot.height = 320;
  const double legend_x = plot.x + plot.width + 20;
  double width = std::ceil(std::max(legend_x + legend_width + kPad, m.width(title, kTitleFont) + 2 * kPad));
  const double bottom = plot.y + plot.height + 6 + m.height(kTickFont) + 8 +
                        (x_label.empty() ? 0 : m.height(kLabelFont)) + kPad;
  double height = std::ceil(std::max(bottom, plot.y + legend_line * names.size() + kPad));
  const bool markers = longest <= 40;

  return canvas::render_figure(stem, width, height, [&](cairo_t* cr) {
    draw_header(cr, width, title, {}, 0);
    draw_y_axis(cr, plot, y_axis, y_label);
    // x ticks and labels
    set_colour(cr, from_hex(canvas::kInk));
    cairo_set_line_width(cr, 1.0);
    const double axis_y = std::round(plot.y + plot.height) + 0.5;
    for (double v : x_axis.ticks.values) {
      const double x = std::round(to_px(x_axis, plot.x, plot.x + plot.width, v)) + 0.5;
      set_colour(cr, from_hex(canvas::kInk));
      cairo_move_to(cr, x, axis_y);
      cairo_line_to(cr, x, axis_y + 4);
      cairo_stroke(cr);
      set_colour(cr, from_hex(canvas::kMuted));
      draw_text(cr, canvas::format_tick(v, x_axis.ticks, false), x, axis_y + 6, kTickFont,
                HAlign::kCenter, VAlign::kTop);
    }
    if (!x_label.empty()) {
      set_colour(cr, from_hex(canvas::kInk));
      draw_text(cr, x_label, plot.x + plot.width / 2, axis_y + 6 + canvas::line_height(cr, kTickFont) + 8,
                kLabelFont, HAlign::kCenter, VAlign::kTop);
    }
    // curves, clipped to the plot (a fixed y range may cut them)
    cairo_save(cr);
    clip_to(cr, plot, 4);
    for (size_t s = 0; s < series.size(); ++s) {
      const Series& sr = series[s];
      const size_t c = colour_of[s];
      cairo_save(cr);
      set_colour(cr, canvas::series_colour(c));
      if (c >= kColours) {
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
        const double x = to_px(x_axis, plot.x, plot.x + plot.width, sr.x[k]);
        const double y = y_px(y_axis, plot, sr.y[k]);
        if (drawing)
          cairo_line_to(cr, x, y);
        else
          cairo_move_to(cr, x, y);
        drawing = true;
      }
      cairo_stroke(cr);
      if (markers)
        for (size_t k = 0; k < sr.x.size(); ++k) {
          if (!finite(sr.y[k])) continue;
          cairo_arc(cr, to_px(x_axis, plot.x, plot.x + plot.width, sr.x[k]),
                    y_px(y_axis, plot, sr.y[k]), 2.6, 0, 2 * kPi);
          cairo_fill(cr);
        }
      cairo_restore(cr);
    }
    cairo_restore(cr);
    draw_x_axis_line(cr, plot);
    // legend: one entry per distinct name, at the right of the plot
    for (size_t i = 0; i < names.size(); ++i) {
      const double y = plot.y + legend_line * (static_cast<double>(i) + 0.5);
      const LegendEntry entry = entry_of(i);
      canvas::draw_legend_mark(cr, entry, legend_x, y);
      set_colour(cr, from_hex(canvas::kInk));
      draw_text(cr, entry.label, legend_x + canvas::kLegendMarkWidth + 6, y, kLabelFont,
                HAlign::kLeft, VAlign::kMiddle);
    }
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
  for (const std::string& c : classes) widest_class = std::max(widest_class, m.width(c, kLabelFont));
  ConfusionGeometry g;
  ConfusionLayout& l = g.layout;
  l.cell = std::max(36.0, std::ceil(widest_count + 12));
  const double n = static_cast<double>(classes.size());
  l.matrix.x = std::ceil(kPad + m.height(kLabelFont) + 10 + widest_class + 8);
  l.matrix.y = std::ceil(header_height(m, false) + 8);
  l.matrix.width = l.matrix.height = n * l.cell;
  g.column_labels = canvas::layout_category_labels(m, classes, kLabelFont, l.cell);
  l.matrix.x += label_overflow(g.column_labels, l.matrix.x + l.cell / 2, l.cell, l.matrix.x - kPad / 2);
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

FigureFiles confusion_matrix_chart(const std::string& stem, const std::string& title,
                                   const std::vector<std::string>& classes,
                                   const std::vector<std::vector<long long>>& counts) {
  const std::string what = "confusion matrix '" + stem + "'";
  check_confusion(what, classes, counts);
  Measure m;
  const ConfusionGeometry g = confusion_geometry(m, classes, counts, title);
  const ConfusionLayout& l = g.layout;
  const size_t n = classes.size();

  return canvas::render_figure(stem, l.width, l.height, [&](cairo_t* cr) {
    draw_header(cr, l.width, title, {}, 0);
    for (size_t i = 0; i < n; ++i) {
      long long total = 0;
      for (long long c : counts[i]) total += c;
      for (size_t j = 0; j < n; ++j) {
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
    // white hairlines between cells, then the frame
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

    set_colour(cr, from_hex(canvas::kInk));
    std::vector<double> centres;
    for (size_t i = 0; i < n; ++i) {
      const double c = (static_cast<double>(i) + 0.5) * l.cell;
      centres.push_back(l.matrix.x + c);
      draw_text(cr, classes[i], l.matrix.x - 8, l.matrix.y + c, kLabelFont, HAlign::kRight,
                VAlign::kMiddle);
    }
    const double labels_top = l.matrix.y + l.matrix.height + 8;
    canvas::draw_category_labels(cr, g.column_labels, centres, labels_top, kLabelFont);
    draw_text(cr, "predicted class", l.matrix.x + l.matrix.width / 2,
              labels_top + g.column_labels.height + 10, kLabelFont, HAlign::kCenter, VAlign::kTop);
    draw_text(cr, "true class", kPad, l.matrix.y + l.matrix.height / 2, kLabelFont,
              HAlign::kCenter, VAlign::kTop, -kPi / 2);

    // The colour bar: the ramp's stops as a linear gradient (the same piecewise-linear ramp).
    cairo_pattern_t* ramp =
        cairo_pattern_create_linear(0, l.matrix.y + l.matrix.height, 0, l.matrix.y);
    for (int s = 0; s <= 4; ++s) {
      const Rgb c = canvas::sequential_colour(s / 4.0);
      cairo_pattern_add_color_stop_rgb(ramp, s / 4.0, c.r, c.g, c.b);
    }
    cairo_rectangle(cr, g.legend_x, l.matrix.y, 14, l.matrix.height);
    cairo_set_source(cr, ramp);
    cairo_fill(cr);
    cairo_pattern_destroy(ramp);
    set_colour(cr, from_hex(0xBBBBBB));
    cairo_rectangle(cr, g.legend_x, l.matrix.y, 14, l.matrix.height);
    cairo_stroke(cr);
    for (int s = 0; s <= 4; ++s) {
      const double y = l.matrix.y + l.matrix.height * (1.0 - s / 4.0);
      set_colour(cr, from_hex(canvas::kMuted));
      draw_text(cr, std::to_string(s * 25) + "%", g.legend_x + 14 + 5, y, kTickFont,
                HAlign::kLeft, VAlign::kMiddle);
    }
  });
}

// ---------------------------------------------------------------------------------------------
namespace {

constexpr double kImageGap = 2;   // between images of one block
constexpr double kBlockGap = 18;  // between the real and the generated block

void check_image(const std::string& what, const std::string& row, const char* kind, size_t k,
                 const RgbImage& image, int width, int height) {
  const std::string name = std::string(kind) + " image " + std::to_string(k) + " of row '" + row + "'";
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
  for (const SampleRow& r : rows) widest_label = std::max(widest_label, m.width(r.label, kLabelFont));
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
                                         g.generated_centre + m.width("generated", kHeaderFont) / 2));
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
