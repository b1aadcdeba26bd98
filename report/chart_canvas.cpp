// The figures' shared drawing helpers (see chart_canvas.h): surfaces, text, ticks, colours,
// legends. Tested through tests/test_report_figures.cpp.
#include "report/chart_canvas.h"

#include <cairo-svg.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace ember::report::canvas {
namespace {

constexpr const char* kFontFamily = "DejaVu Sans";
constexpr double kPi = 3.14159265358979323846;
constexpr double kLabelAngle = -40.0 * kPi / 180.0;  // rotated category labels rise to the right

// Unhinted metrics: text widths do not depend on the surface, so the layout measured once fits
// the SVG and the PNG alike. Grey antialiasing: no colour fringes in the PNG.
void apply_font_options(cairo_t* cr) {
  cairo_font_options_t* options = cairo_font_options_create();
  cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF);
  cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_NONE);
  cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY);
  cairo_set_font_options(cr, options);
  cairo_font_options_destroy(options);
}

cairo_status_t append_to_string(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* cr) const { cairo_destroy(cr); }
};
using SurfacePtr = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;
using ContextPtr = std::unique_ptr<cairo_t, ContextDeleter>;

void check_status(cairo_status_t status, const std::string& file, const char* step) {
  EMBER_CHECK(status == CAIRO_STATUS_SUCCESS, "figure '", file, "': cairo failed while ", step,
              ": ", cairo_status_to_string(status));
}

// Runs `draw` on a fresh context of `surface` after `scale` and a white background.
void draw_on(cairo_surface_t* surface, double scale, double width, double height,
             const std::function<void(cairo_t*)>& draw, const std::string& file) {
  ContextPtr cr(cairo_create(surface));
  check_status(cairo_status(cr.get()), file, "creating the drawing context");
  cairo_scale(cr.get(), scale, scale);
  apply_font_options(cr.get());
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_rectangle(cr.get(), 0, 0, width, height);
  cairo_fill(cr.get());
  draw(cr.get());
  check_status(cairo_status(cr.get()), file, "drawing");
}

}  // namespace

Rgb from_hex(uint32_t rgb) {
  return {((rgb >> 16) & 0xFF) / 255.0, ((rgb >> 8) & 0xFF) / 255.0, (rgb & 0xFF) / 255.0};
}

uint32_t to_hex(Rgb c) {
  auto channel = [](double v) {
    return static_cast<uint32_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0));
  };
  return (channel(c.r) << 16) | (channel(c.g) << 8) | channel(c.b);
}

Rgb series_colour(size_t index) {
  // Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour
  // vision deficiencies. Yellow last: it is the weakest on white.
  static const uint32_t kColours[] = {0x0072B2, 0xE69F00, 0x009E73, 0xD55E00,
                                      0xCC79A7, 0x56B4E9, 0xF0E442};
  return from_hex(kColours[index % (sizeof(kColours) / sizeof(kColours[0]))]);
}

Rgb sequential_colour(double t) {
  // Stops of ColorBrewer's single-hue "Blues" ramp, interpolated linearly.
  static const uint32_t kStops[] = {0xF7FBFF, 0xC6DBEF, 0x6BAED6, 0x2171B5, 0x08306B};
  constexpr int kIntervals = 4;
  t = std::isfinite(t) ? std::clamp(t, 0.0, 1.0) : 0.0;
  const int i = std::min(static_cast<int>(t * kIntervals), kIntervals - 1);
  const double f = t * kIntervals - i;
  const Rgb a = from_hex(kStops[i]);
  const Rgb b = from_hex(kStops[i + 1]);
  return {a.r + (b.r - a.r) * f, a.g + (b.g - a.g) * f, a.b + (b.b - a.b) * f};
}

void set_colour(cairo_t* cr, Rgb c, double alpha) {
  if (alpha >= 1.0)
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
  else
    cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
}

void set_font(cairo_t* cr, Font font) {
  cairo_select_font_face(cr, kFontFamily, CAIRO_FONT_SLANT_NORMAL,
                         font.bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, font.size);
}

double text_width(cairo_t* cr, const std::string& text, Font font) {
  set_font(cr, font);
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  return extents.x_advance;
}

double line_height(cairo_t* cr, Font font) {
  set_font(cr, font);
  cairo_font_extents_t extents;
  cairo_font_extents(cr, &extents);
  return extents.ascent + extents.descent;
}

void draw_text(cairo_t* cr, const std::string& text, double x, double y, Font font, HAlign h,
               VAlign v, double angle) {
  set_font(cr, font);
  cairo_font_extents_t fe;
  cairo_font_extents(cr, &fe);
  cairo_text_extents_t te;
  cairo_text_extents(cr, text.c_str(), &te);
  double dx = 0;
  if (h == HAlign::kCenter) dx = -te.x_advance / 2;
  if (h == HAlign::kRight) dx = -te.x_advance;
  double dy = 0;  // from the anchor to the baseline
  if (v == VAlign::kTop) dy = fe.ascent;
  if (v == VAlign::kMiddle) dy = (fe.ascent - fe.descent) / 2;
  if (v == VAlign::kBottom) dy = -fe.descent;
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  cairo_move_to(cr, dx, dy);
  cairo_show_text(cr, text.c_str());
  cairo_restore(cr);
}

Measure::Measure() {
  surface_ = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
  cr_ = cairo_create(surface_);
  apply_font_options(cr_);
}

Measure::~Measure() {
  cairo_destroy(cr_);
  cairo_surface_destroy(surface_);
}

Ticks nice_ticks(double lo, double hi, int target) {
  EMBER_CHECK(std::isfinite(lo) && std::isfinite(hi), "axis range [", lo, ", ", hi,
              "] is not finite");
  EMBER_CHECK(target >= 1, "nice_ticks: target ", target, " must be at least 1");
  if (lo > hi) std::swap(lo, hi);
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {  // one value: a range around it
    const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / target;
  const int exponent = static_cast<int>(std::floor(std::log10(raw)));
  const double magnitude = std::pow(10.0, exponent);
  const double f = raw / magnitude;
  // Rounding (not ceiling) the raw step keeps the tick count near the target.
  const double mantissa = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  Ticks t;
  t.step = mantissa * magnitude;
  const double first = std::floor(lo / t.step + 1e-9);
  const double last = std::ceil(hi / t.step - 1e-9);
  t.lo = first * t.step;
  t.hi = last * t.step;
  for (double k = first; k <= last + 0.5; k += 1) t.values.push_back(k * t.step);
  t.decimals = std::max(0, -(mantissa == 10 ? exponent + 1 : exponent));
  return t;
}

std::string format_number(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", std::max(0, decimals), value);
  std::string s = buffer;
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

std::string format_tick(double value, const Ticks& ticks, bool percent) {
  if (percent) return format_number(value * 100, std::max(0, ticks.decimals - 2)) + "%";
  return format_number(value, ticks.decimals);
}

std::vector<std::string> wrap_words(const Measure& m, const std::string& text, Font font,
                                    double max_width) {
  std::vector<std::string> words;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t space = text.find(' ', start);
    const size_t end = space == std::string::npos ? text.size() : space;
    if (end > start) words.push_back(text.substr(start, end - start));
    if (space == std::string::npos) break;
    start = space + 1;
  }
  std::vector<std::string> lines;
  for (const std::string& word : words) {
    if (!lines.empty() && m.width(lines.back() + " " + word, font) <= max_width)
      lines.back() += " " + word;
    else
      lines.push_back(word);
  }
  if (lines.empty()) lines.push_back("");
  return lines;
}

CategoryLabels layout_category_labels(const Measure& m, const std::vector<std::string>& labels,
                                      Font font, double slot_width) {
  CategoryLabels out;
  const double room = slot_width * 0.94;
  const double line = m.height(font);
  bool single = true;
  for (const std::string& label : labels) single = single && m.width(label, font) <= room;
  if (single) {
    for (const std::string& label : labels) {
      out.lines.push_back({label});
      out.left_reach.push_back(m.width(label, font) / 2);
    }
    out.height = line;
    return out;
  }
  bool wrapped_fits = true;
  size_t most_lines = 1;
  for (const std::string& label : labels) {
    out.lines.push_back(wrap_words(m, label, font, room));
    most_lines = std::max(most_lines, out.lines.back().size());
    for (const std::string& l : out.lines.back()) wrapped_fits = wrapped_fits && m.width(l, font) <= room;
  }
  if (wrapped_fits && most_lines <= 3) {
    out.height = line * static_cast<double>(most_lines);
    out.left_reach.assign(labels.size(), room / 2);
    return out;
  }
  out.lines.clear();
  out.rotated = true;
  double widest = 0;
  for (const std::string& label : labels) {
    out.lines.push_back({label});
    const double w = m.width(label, font);
    widest = std::max(widest, w);
    // The text runs down-left from its anchor (0.3 line right of the centre), and its lower
    // edge sticks out a little further left.
    out.left_reach.push_back(w * std::cos(kLabelAngle) - line * 0.3 + line * std::sin(-kLabelAngle));
  }
  out.height = widest * std::sin(-kLabelAngle) + line * std::cos(kLabelAngle);
  return out;
}

void draw_category_labels(cairo_t* cr, const CategoryLabels& labels,
                          const std::vector<double>& x_centres, double top, Font font) {
  const double line = line_height(cr, font);
  for (size_t i = 0; i < labels.lines.size() && i < x_centres.size(); ++i) {
    if (labels.rotated) {
      // The label ends at its tick and runs down to the left; anchored by its vertical middle,
      // half a line below the axis so its top corner clears the axis line.
      draw_text(cr, labels.lines[i][0], x_centres[i] + line * 0.3, top + line * 0.35, font,
                HAlign::kRight, VAlign::kMiddle, kLabelAngle);
      continue;
    }
    for (size_t k = 0; k < labels.lines[i].size(); ++k)
      draw_text(cr, labels.lines[i][k], x_centres[i], top + line * static_cast<double>(k), font,
                HAlign::kCenter, VAlign::kTop);
  }
}

void draw_legend_mark(cairo_t* cr, const LegendEntry& entry, double x, double y) {
  cairo_save(cr);
  set_colour(cr, entry.colour);
  switch (entry.kind) {
    case LegendEntry::Kind::kSwatch:
      cairo_rectangle(cr, x + 3, y - 6, kLegendMarkWidth - 6, 12);
      cairo_fill(cr);
      break;
    case LegendEntry::Kind::kDashedLine: {
      const double dashes[] = {5.0, 3.0};
      cairo_set_dash(cr, dashes, 2, 0);
    }
      [[fallthrough]];
    case LegendEntry::Kind::kLine:
      cairo_set_line_width(cr, 2.0);
      cairo_move_to(cr, x, y);
      cairo_line_to(cr, x + kLegendMarkWidth, y);
      cairo_stroke(cr);
      break;
    case LegendEntry::Kind::kDot:
      cairo_arc(cr, x + kLegendMarkWidth / 2, y, 3.2, 0, 2 * kPi);
      cairo_fill(cr);
      break;
    case LegendEntry::Kind::kErrorBar:
      cairo_set_line_width(cr, 1.5);
      cairo_move_to(cr, x + kLegendMarkWidth / 2, y - 7);
      cairo_line_to(cr, x + kLegendMarkWidth / 2, y + 7);
      cairo_move_to(cr, x + kLegendMarkWidth / 2 - 5, y - 7);
      cairo_line_to(cr, x + kLegendMarkWidth / 2 + 5, y - 7);
      cairo_move_to(cr, x + kLegendMarkWidth / 2 - 5, y + 7);
      cairo_line_to(cr, x + kLegendMarkWidth / 2 + 5, y + 7);
      cairo_stroke(cr);
      break;
  }
  cairo_restore(cr);
}

namespace {
constexpr double kLegendMarkGap = 6.0;
constexpr double kLegendEntryGap = 18.0;
}  // namespace

double legend_row_width(const Measure& m, const std::vector<LegendEntry>& entries, Font font) {
  double width = 0;
  for (size_t i = 0; i < entries.size(); ++i)
    width += (i ? kLegendEntryGap : 0) + kLegendMarkWidth + kLegendMarkGap +
             m.width(entries[i].label, font);
  return width;
}

void draw_legend_row(cairo_t* cr, const std::vector<LegendEntry>& entries, double x, double y,
                     Font font) {
  for (const LegendEntry& entry : entries) {
    draw_legend_mark(cr, entry, x, y);
    x += kLegendMarkWidth + kLegendMarkGap;
    set_colour(cr, from_hex(kInk));
    draw_text(cr, entry.label, x, y, font, HAlign::kLeft, VAlign::kMiddle);
    x += text_width(cr, entry.label, font) + kLegendEntryGap;
  }
}

FigureFiles render_figure(const std::string& stem, double width, double height,
                          const std::function<void(cairo_t*)>& draw, bool pixelated) {
  EMBER_CHECK(!stem.empty(), "figure: the file stem is empty");
  const std::filesystem::path parent = std::filesystem::path(stem).parent_path();
  EMBER_CHECK(parent.empty() || std::filesystem::is_directory(parent), "figure '", stem,
              "': the folder '", parent.string(), "' does not exist");
  EMBER_CHECK(std::isfinite(width) && std::isfinite(height) && width >= 1 && height >= 1 &&
                  width <= 20000 && height <= 20000,
              "figure '", stem, "': size ", width, " x ", height, " is out of range");
  FigureFiles files{stem + ".svg", stem + ".png"};

  std::string svg;
  {
    SurfacePtr surface(cairo_svg_surface_create_for_stream(append_to_string, &svg, width, height));
    check_status(cairo_surface_status(surface.get()), files.svg, "creating the SVG surface");
    // Pixels, not cairo 1.16's default points: an <img> shows the SVG at the PNG's CSS size.
    cairo_svg_surface_set_document_unit(surface.get(), CAIRO_SVG_UNIT_PX);
    draw_on(surface.get(), 1.0, width, height, draw, files.svg);
    cairo_surface_finish(surface.get());
    check_status(cairo_surface_status(surface.get()), files.svg, "writing the SVG");
  }
  if (pixelated) {
    // "image-rendering" is inherited, so the images inside <defs> patterns get it too;
    // optimizeSpeed first for viewers that do not know "pixelated".
    const size_t root = svg.find("<svg ");
    EMBER_CHECK(root != std::string::npos, "figure '", files.svg, "': cairo wrote no <svg> element");
    svg.insert(root + 5, "style=\"image-rendering:optimizeSpeed;image-rendering:pixelated\" ");
  }
  std::string png;
  {
    const int pixels_w = static_cast<int>(std::ceil(width * kPngScale));
    const int pixels_h = static_cast<int>(std::ceil(height * kPngScale));
    SurfacePtr surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, pixels_w, pixels_h));
    check_status(cairo_surface_status(surface.get()), files.png, "creating the image surface");
    draw_on(surface.get(), kPngScale, width, height, draw, files.png);
    cairo_surface_flush(surface.get());
    check_status(cairo_surface_write_to_png_stream(surface.get(), append_to_string, &png),
                 files.png, "encoding the PNG");
  }
  write_file_atomically(files.svg, svg);
  write_file_atomically(files.png, png);
  return files;
}

}  // namespace ember::report::canvas
