// The report's figures: bar charts of group means with error bars and each run as a
// dot, grouped bars of class counts, training curves, confusion matrices and GAN sample grids.
// Each figure is drawn once by cairo calls and written twice, as <stem>.svg and as <stem>.png
// (kPngScale times the SVG's pixel size), both atomically (report/chart_canvas.h). Colours are
// Okabe & Ito's colour-blind-safe set; axes get round ticks (1, 2, 5 x 10^k).
// Tested in tests/test_report_figures.cpp: sizes, colours read back from the PNGs, pixel-exact
// sample images, the SVG header, bad inputs named.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "report/chart_canvas.h"
#include "report/report_data.h"

namespace ember::report {

struct BarChartOptions {
  bool percent = false;     // values are fractions in [0, 1]: the axis and labels show percent
  bool from_zero = true;    // the axis includes 0 so bar lengths compare honestly; false: it
                            // fits the data (bars then start at the axis' lower end)
  std::optional<double> y_min, y_max;  // fixed ends of the axis; unset: round ends around the data
  std::optional<double> reference;     // a dashed horizontal line, e.g. the baseline's mean
  std::string reference_label;         // its legend text (the value is appended)
  std::string error_label = "95% interval";  // legend text of the error bars
  std::vector<size_t> highlight;       // indices of bars drawn in the accent colour
  bool value_labels = true;            // the mean written above each bar
};

// Mean per group as a bar, its [low, high] as an error bar (none where low == high == mean),
// each run as a dot; a legend row under the title. Errors: no bars, a non-finite value,
// low > mean or high < mean, a highlight index out of range, y_min >= y_max.
FigureFiles bar_chart_with_errors(const std::string& stem, const std::string& title,
                                  const std::string& y_label, const std::vector<BarGroup>& bars,
                                  const BarChartOptions& options = {});

// One group of bars per category, one bar per series (e.g. the original and the unbalanced
// training set), the value written on each bar; the axis starts at 0. Errors: no categories or
// series, a series whose y length differs from the category count, a non-finite value.
FigureFiles grouped_bar_chart(const std::string& stem, const std::string& title,
                              const std::vector<std::string>& categories,
                              const std::vector<Series>& series, const std::string& y_label);

struct LineChartOptions {
  bool percent = false;                // y values are fractions: the axis shows percent
  std::optional<double> y_min, y_max;  // fixed ends of the y axis
};

// Curves y(x), one colour per distinct series name (several runs of one group share a name,
// a colour and one legend entry), the legend at the right. Non-finite points are gaps (a
// missing evaluation). Errors: no series, x and y lengths differing, a series without points,
// no finite point at all, a non-finite x.
FigureFiles line_chart(const std::string& stem, const std::string& title,
                       const std::string& x_label, const std::string& y_label,
                       const std::vector<Series>& series, const LineChartOptions& options = {});

// Rows are true classes, columns predicted ones; each cell is coloured by its share of the row
// (canvas::sequential_colour) and shows the count. A colour bar gives the scale. Errors: no
// classes, counts not classes x classes, a negative count.
FigureFiles confusion_matrix_chart(const std::string& stem, const std::string& title,
                                   const std::vector<std::string>& classes,
                                   const std::vector<std::vector<long long>>& counts);

// One row per class with its label at the left; the real images, a gap, then the generated
// ones, under the headers "real" and "generated". Every image is drawn pixel-exact (nearest
// neighbour) at `scale` canvas pixels per image pixel, at whole-pixel positions. Errors: no
// rows, no images, images of differing sizes, pixel buffers of the wrong length, scale < 1.
FigureFiles sample_grid(const std::string& stem, const std::string& title,
                        const std::vector<SampleRow>& rows, int scale);

// Layouts, exposed so the tests can find cells and images in the PNG (canvas pixels; the PNG
// has kPngScale device pixels per canvas pixel).
struct Rect {
  double x = 0, y = 0, width = 0, height = 0;
};
struct ConfusionLayout {
  double width = 0, height = 0;  // the canvas
  Rect matrix;                   // cell (i, j) is at matrix.x + j * cell, matrix.y + i * cell
  double cell = 0;
};
ConfusionLayout confusion_matrix_layout(const std::vector<std::string>& classes,
                                        const std::vector<std::vector<long long>>& counts);
struct SampleGridLayout {
  double width = 0, height = 0;
  std::vector<std::vector<Rect>> real, generated;  // per row, per image; whole pixels
};
SampleGridLayout sample_grid_layout(const std::string& title, const std::vector<SampleRow>& rows,
                                    int scale);

}  // namespace ember::report
