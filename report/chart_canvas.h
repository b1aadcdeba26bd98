// The drawing helpers the report's figures share (report/figures.cpp): one draw function per
// figure, rendered twice from the same cairo calls, onto an SVG surface and onto a PNG image
// surface at kPngScale, both written atomically; text with cairo's toy API in DejaVu Sans;
// "nice" axis ticks (1, 2, 5 x 10^k); the Okabe-Ito colour-blind-safe palette and a sequential
// white-to-blue ramp. Tested through tests/test_report_figures.cpp (ticks by hand, colours read
// back from the PNGs).
#pragma once

#include <cairo.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ember::report {

// The two files a figure is written to.
struct FigureFiles {
  std::string svg;  // <stem>.svg
  std::string png;  // <stem>.png
};

// The PNG is drawn kPngScale times larger than the SVG's size (sharp on high-density screens).
inline constexpr int kPngScale = 2;

namespace canvas {

struct Rgb {
  double r = 0, g = 0, b = 0;  // 0..1
};
Rgb from_hex(uint32_t rgb);  // 0xRRGGBB
// The colour as 8-bit channels, as it lands in the PNG where it is drawn opaque.
uint32_t to_hex(Rgb c);

// Okabe & Ito's eight colours (without black), in the order series get them: blue, orange,
// bluish green, vermillion, reddish purple, sky blue, yellow. Indices wrap.
Rgb series_colour(size_t index);
inline constexpr uint32_t kInk = 0x222222;        // text, axes
inline constexpr uint32_t kGrid = 0xE3E3E3;       // horizontal grid lines
inline constexpr uint32_t kMuted = 0x666666;      // tick labels, secondary text
// A sequential ramp for shares in [0, 1] (clamped): near-white at 0 to dark blue at 1, linear
// between fixed stops, so equal steps in share read as equal steps in darkness.
Rgb sequential_colour(double t);

void set_colour(cairo_t* cr, Rgb c, double alpha = 1.0);

struct Font {
  double size = 12.0;
  bool bold = false;
};
enum class HAlign { kLeft, kCenter, kRight };
enum class VAlign { kTop, kMiddle, kBaseline, kBottom };

void set_font(cairo_t* cr, Font font);
// The advance width of `text` in `font` (what draw_text aligns with).
double text_width(cairo_t* cr, const std::string& text, Font font);
// The height of a line of text: ascent + descent of the font.
double line_height(cairo_t* cr, Font font);
// Draws `text` anchored at (x, y), rotated by `angle` radians around the anchor (cairo's sense:
// positive turns clockwise on screen).
void draw_text(cairo_t* cr, const std::string& text, double x, double y, Font font, HAlign h,
               VAlign v, double angle = 0.0);

// A context for measuring text before a layout is fixed, with the same font options as the
// surfaces the figure is drawn on (metrics unhinted, so SVG and PNG lay out alike).
class Measure {
 public:
  Measure();
  ~Measure();
  Measure(const Measure&) = delete;
  Measure& operator=(const Measure&) = delete;
  cairo_t* cr() const { return cr_; }
  double width(const std::string& text, Font font) const { return text_width(cr_, text, font); }
  double height(Font font) const { return line_height(cr_, font); }

 private:
  cairo_surface_t* surface_;
  cairo_t* cr_;
};

// Axis ticks: a step of 1, 2 or 5 x 10^k giving about `target` intervals, the range widened to
// whole steps, and the decimals a label needs to show the step exactly.
struct Ticks {
  double lo = 0, hi = 1, step = 1;
  std::vector<double> values;
  int decimals = 0;
};
Ticks nice_ticks(double lo, double hi, int target = 5);
// A tick label: fixed `decimals`, or a percentage of a fraction (0.25 -> "25%") with the
// decimals the step needs once multiplied by 100. Never prints "-0".
std::string format_number(double value, int decimals);
std::string format_tick(double value, const Ticks& ticks, bool percent);

// Splits `text` at spaces into lines no wider than `max_width` where words allow.
std::vector<std::string> wrap_words(const Measure& m, const std::string& text, Font font,
                                    double max_width);

// Category labels under an axis (bars, confusion-matrix columns): kept on one line when each
// fits its slot, else wrapped at spaces into at most three lines, else written at 40 degrees.
struct CategoryLabels {
  std::vector<std::vector<std::string>> lines;  // per label
  bool rotated = false;
  double height = 0;  // the space they need below the axis
  std::vector<double> left_reach;  // how far label i reaches left of its centre x
};
CategoryLabels layout_category_labels(const Measure& m, const std::vector<std::string>& labels,
                                      Font font, double slot_width);
// Draws label i centred under x_centres[i], starting `top` (the axis line plus a gap).
void draw_category_labels(cairo_t* cr, const CategoryLabels& labels,
                          const std::vector<double>& x_centres, double top, Font font);

// One legend entry: a filled swatch, a line (solid or dashed) or a dot.
struct LegendEntry {
  enum class Kind { kSwatch, kLine, kDashedLine, kDot, kErrorBar };
  std::string label;
  Rgb colour;
  Kind kind = Kind::kSwatch;
};
// The width a one-row legend takes, and the drawing of it from (x, y_middle).
double legend_row_width(const Measure& m, const std::vector<LegendEntry>& entries, Font font);
void draw_legend_row(cairo_t* cr, const std::vector<LegendEntry>& entries, double x,
                     double y_middle, Font font);
void draw_legend_mark(cairo_t* cr, const LegendEntry& entry, double x, double y_middle);
inline constexpr double kLegendMarkWidth = 22.0;

// Draws the figure twice with `draw` (user units: pixels of a width x height canvas; the
// background is already white) and writes <stem>.svg and <stem>.png atomically. `stem` must
// name a file in an existing folder. Errors name the file and cairo's status. `pixelated`:
// raster images in the SVG are scaled by browsers without smoothing, as in the PNG (cairo 1.16
// does not carry CAIRO_FILTER_NEAREST into its SVG, so the root element gets the CSS property).
FigureFiles render_figure(const std::string& stem, double width, double height,
                          const std::function<void(cairo_t*)>& draw, bool pixelated = false);

}  // namespace canvas
}  // namespace ember::report
