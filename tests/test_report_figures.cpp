// report/figures.h and report/chart_canvas.h: ticks and colours computed by hand; every figure
// writes an SVG (XML header, pixel size) and a PNG of kPngScale times that size; colours read
// back from the PNG where the layout says a mark is (darkest cell for a share of 1, the
// highlight and reference colours only when asked for, one colour per distinct series name);
// sample images pixel-exact; bad inputs and paths named; no temporary files left behind.
#include <gtest/gtest.h>
#include <stb/stb_image.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <regex>

#include "report/chart_canvas.h"
#include "report/figures.h"
#include "tensor/atomic_file.h"
#include "tests/expect_error.h"
#include "tests/temp_dir.h"

namespace ember {
namespace {

using report::BarChartOptions;
using report::BarGroup;
using report::FigureFiles;
using report::kPngScale;
using report::RgbImage;
using report::SampleRow;
using report::Series;
namespace canvas = report::canvas;

struct Png {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  uint32_t at(int x, int y) const {
    const uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
    return (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2];
  }
  // How many pixels have exactly this colour.
  size_t count(uint32_t colour) const {
    size_t n = 0;
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) n += at(x, y) == colour;
    return n;
  }
};

Png read_png(const std::string& path) {
  const std::string bytes = read_file(path);
  Png png;
  int channels = 0;
  stbi_uc* data = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                        static_cast<int>(bytes.size()), &png.width, &png.height,
                                        &channels, 3);
  EXPECT_NE(data, nullptr) << path << ": " << stbi_failure_reason();
  if (data) {
    png.rgb.assign(data, data + static_cast<size_t>(png.width) * png.height * 3);
    stbi_image_free(data);
  }
  return png;
}

// The SVG's declared size in pixels; checks the XML header on the way.
std::pair<double, double> svg_size(const std::string& path) {
  const std::string svg = read_file(path);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u) << svg.substr(0, 80);
  const std::regex size_re("<svg[^>]*width=\"([0-9.]+)px\"[^>]*height=\"([0-9.]+)px\"");
  std::smatch match;
  if (!std::regex_search(svg, match, size_re)) {
    ADD_FAILURE() << "no <svg width=..px height=..px> in " << path;
    return {0, 0};
  }
  return {std::stod(match[1]), std::stod(match[2])};
}

// Both files exist, the SVG is well-headed, the PNG is kPngScale times the SVG's size.
Png check_files(const FigureFiles& files) {
  const auto [w, h] = svg_size(files.svg);
  Png png = read_png(files.png);
  EXPECT_GT(w, 50);
  EXPECT_GT(h, 50);
  EXPECT_EQ(png.width, static_cast<int>(std::ceil(w * kPngScale)));
  EXPECT_EQ(png.height, static_cast<int>(std::ceil(h * kPngScale)));
  return png;
}

// Within 1 per channel: cairo rounds colours through 16 bits on their way to 8.
bool near_colour(uint32_t a, uint32_t b) {
  for (int shift : {0, 8, 16})
    if (std::abs(static_cast<int>((a >> shift) & 0xFF) - static_cast<int>((b >> shift) & 0xFF)) > 1)
      return false;
  return true;
}

std::vector<BarGroup> three_bars() {
  return {{"full", 0.95, 0.93, 0.97, {0.94, 0.95, 0.96}},
          {"unbalanced", 0.90, 0.88, 0.92, {0.89, 0.90, 0.91}},
          {"augmented 300", 0.93, 0.91, 0.95, {0.92, 0.93, 0.94}}};
}

TEST(ReportFigures, NiceTicksByHand) {
  // 0..0.97 in about 5 steps: raw 0.194 -> step 0.2, ends 0 and 1.0, one decimal.
  const canvas::Ticks a = canvas::nice_ticks(0, 0.97, 5);
  EXPECT_DOUBLE_EQ(a.step, 0.2);
  EXPECT_DOUBLE_EQ(a.lo, 0.0);
  EXPECT_DOUBLE_EQ(a.hi, 1.0);
  ASSERT_EQ(a.values.size(), 6u);
  EXPECT_EQ(a.decimals, 1);
  EXPECT_EQ(canvas::format_tick(a.values[2], a, false), "0.4");
  EXPECT_EQ(canvas::format_tick(a.values[2], a, true), "40%");
  // 0..3000: raw 600 -> step 500, integers.
  const canvas::Ticks b = canvas::nice_ticks(0, 3000, 5);
  EXPECT_DOUBLE_EQ(b.step, 500);
  EXPECT_EQ(b.values.size(), 7u);
  EXPECT_EQ(b.decimals, 0);
  EXPECT_EQ(canvas::format_tick(2500, b, false), "2500");
  // 0.912..0.958: raw 0.0092 -> step 0.01, ends 0.91 and 0.96; percent needs no decimals.
  const canvas::Ticks c = canvas::nice_ticks(0.912, 0.958, 5);
  EXPECT_NEAR(c.step, 0.01, 1e-12);
  EXPECT_NEAR(c.lo, 0.91, 1e-12);
  EXPECT_NEAR(c.hi, 0.96, 1e-12);
  EXPECT_EQ(canvas::format_tick(c.values[1], c, true), "92%");
  // raw 7.5 rounds up to 10: one decade, no decimals.
  EXPECT_EQ(canvas::nice_ticks(0, 37.5, 5).decimals, 0);
  EXPECT_DOUBLE_EQ(canvas::nice_ticks(0, 37.5, 5).step, 10);
  // One value: a range around it.
  EXPECT_LT(canvas::nice_ticks(2, 2).lo, 2);
  EXPECT_EQ(canvas::format_number(-0.0001, 2), "0.00");
  EXPECT_ERROR_MENTIONS(canvas::nice_ticks(0, NAN), "not finite");
}

TEST(ReportFigures, ColoursByHand) {
  EXPECT_EQ(canvas::to_hex(canvas::sequential_colour(0.0)), 0xF7FBFFu);
  EXPECT_EQ(canvas::to_hex(canvas::sequential_colour(0.5)), 0x6BAED6u);
  EXPECT_EQ(canvas::to_hex(canvas::sequential_colour(1.0)), 0x08306Bu);
  EXPECT_EQ(canvas::to_hex(canvas::sequential_colour(7.0)), 0x08306Bu);  // clamped
  // Halfway between the stops 0xF7FBFF and 0xC6DBEF: (247 + 198) / 2 = 222.5 (either way),
  // (251 + 219) / 2 = 235, (255 + 239) / 2 = 247.
  EXPECT_TRUE(near_colour(canvas::to_hex(canvas::sequential_colour(0.125)), 0xDEEBF7u));
  EXPECT_EQ(canvas::to_hex(canvas::series_colour(0)), 0x0072B2u);
  EXPECT_EQ(canvas::to_hex(canvas::series_colour(1)), 0xE69F00u);
  EXPECT_EQ(canvas::series_colour(7).r, canvas::series_colour(0).r);  // wraps
}

TEST(ReportFigures, CategoryLabelsFitTheirSlots) {
  const canvas::Measure m;
  const canvas::Font font{12.0, false};
  const std::vector<std::string> labels = {"full", "unbalanced + class weights"};
  const double long_width = m.width(labels[1], font);
  const double line = m.height(font);
  // Wide slots: one line each, centred (reaching half their width left).
  const canvas::CategoryLabels one = canvas::layout_category_labels(m, labels, font, long_width + 20);
  EXPECT_FALSE(one.rotated);
  EXPECT_EQ(one.lines[1].size(), 1u);
  EXPECT_DOUBLE_EQ(one.height, line);
  EXPECT_DOUBLE_EQ(one.left_reach[1], long_width / 2);
  // Room for "unbalanced +" but not the whole label: wrapped at spaces into two lines.
  const double room = m.width("unbalanced + class", font) / 0.94 - 1;
  const canvas::CategoryLabels wrapped = canvas::layout_category_labels(m, labels, font, room);
  EXPECT_FALSE(wrapped.rotated);
  ASSERT_EQ(wrapped.lines[1].size(), 2u);
  EXPECT_EQ(wrapped.lines[1][0], "unbalanced +");
  EXPECT_EQ(wrapped.lines[1][1], "class weights");
  EXPECT_DOUBLE_EQ(wrapped.height, 2 * line);
  // Narrower than the word "unbalanced": written at an angle, taller than one line.
  const canvas::CategoryLabels rotated = canvas::layout_category_labels(m, labels, font, 20);
  EXPECT_TRUE(rotated.rotated);
  EXPECT_GT(rotated.height, long_width * 0.5);
}

TEST(ReportFigures, CairoErrorsNameTheFile) {
  testing::TempDir dir("figures_cairo_error");
  // Not UTF-8: cairo's text functions refuse it and the context keeps the error.
  auto bars = three_bars();
  bars[0].label = "bad \xff label";
  testing::expect_error(
      [&] { report::bar_chart_with_errors(dir.file("bad"), "t", "y", bars); },
      {"bad.svg", "cairo failed while drawing"});
  EXPECT_FALSE(std::filesystem::exists(dir.file("bad.svg")));
}

TEST(ReportFigures, BarChartWritesBothFilesWithHighlightAndReference) {
  testing::TempDir dir("figures_bar");
  BarChartOptions percent;
  percent.percent = true;
  const Png plain = check_files(report::bar_chart_with_errors(
      dir.file("plain"), "Test accuracy", "accuracy", three_bars(), percent));
  EXPECT_GT(plain.count(0x99C7E0), 1000u);  // the bars' fill
  EXPECT_EQ(plain.count(0xF2CF80), 0u);     // no highlight asked for
  EXPECT_EQ(plain.count(0xD55E00), 0u);     // no reference line

  BarChartOptions options;
  options.percent = true;
  options.from_zero = false;
  options.highlight = {2};
  options.reference = 0.90;
  options.reference_label = "unbalanced mean";
  const FigureFiles files = report::bar_chart_with_errors(dir.file("marked"), "Test accuracy",
                                                          "accuracy", three_bars(), options);
  EXPECT_EQ(files.svg, dir.file("marked.svg"));
  EXPECT_EQ(files.png, dir.file("marked.png"));
  const Png marked = check_files(files);
  EXPECT_GT(marked.count(0xF2CF80), 1000u);  // the highlighted bar
  EXPECT_GT(marked.count(0xD55E00), 100u);   // the dashed line and its legend mark
  // Only the two figures' files remain: nothing temporary left behind.
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path)) ++n;
  EXPECT_EQ(n, 4u);
}

TEST(ReportFigures, BarChartRejectsBadInput) {
  testing::TempDir dir("figures_bar_bad");
  const std::string stem = dir.file("b");
  EXPECT_ERROR_MENTIONS(report::bar_chart_with_errors(stem, "t", "y", {}), "no bars");
  auto bars = three_bars();
  bars[1].low = 0.95;  // above its mean 0.90
  EXPECT_ERROR_MENTIONS(report::bar_chart_with_errors(stem, "t", "y", bars),
                        "'unbalanced': its error bar [0.95, 0.92] does not contain its mean 0.9");
  bars = three_bars();
  bars[0].points.push_back(NAN);
  EXPECT_ERROR_MENTIONS(report::bar_chart_with_errors(stem, "t", "y", bars),
                        "'full' has a non-finite run value");
  BarChartOptions options;
  options.highlight = {3};
  EXPECT_ERROR_MENTIONS(report::bar_chart_with_errors(stem, "t", "y", three_bars(), options),
                        "highlight index 3 is out of range (3 bars)");
  options = {};
  options.y_min = 1.0;
  options.y_max = 0.5;
  EXPECT_ERROR_MENTIONS(report::bar_chart_with_errors(stem, "t", "y", three_bars(), options),
                        "y_min 1 must be below y_max 0.5");
  EXPECT_ERROR_MENTIONS(
      report::bar_chart_with_errors(dir.file("no_such_folder/b"), "t", "y", three_bars()),
      "no_such_folder' does not exist");
  EXPECT_FALSE(std::filesystem::exists(stem + ".svg"));
}

TEST(ReportFigures, FilesAreReplacedWhole) {
  testing::TempDir dir("figures_replace");
  const std::string stem = dir.file("f");
  write_file_atomically(stem + ".png", "old");
  check_files(report::bar_chart_with_errors(stem, "t", "y", three_bars()));
}

TEST(ReportFigures, GroupedBarChartColoursEachSeries) {
  testing::TempDir dir("figures_grouped");
  const std::vector<std::string> classes = {"AnnualCrop", "Forest", "HerbaceousVegetation",
                                            "Highway", "River"};
  const std::vector<Series> series = {{"original", {}, {3000, 3000, 3000, 2500, 2500}},
                                      {"unbalanced", {}, {3000, 3000, 3000, 250, 250}}};
  const Png png = check_files(
      report::grouped_bar_chart(dir.file("counts"), "Training images per class", classes,
                                series, "images"));
  EXPECT_GT(png.count(canvas::to_hex(canvas::series_colour(0))), 2000u);
  EXPECT_GT(png.count(canvas::to_hex(canvas::series_colour(1))), 2000u);
  EXPECT_EQ(png.count(canvas::to_hex(canvas::series_colour(2))), 0u);

  EXPECT_ERROR_MENTIONS(report::grouped_bar_chart(dir.file("x"), "t", {"a", "b"},
                                                  {{"s", {}, {1, 2, 3}}}, "y"),
                        "series 's' has 3 values for 2 categories");
  EXPECT_ERROR_MENTIONS(report::grouped_bar_chart(dir.file("x"), "t", {}, series, "y"),
                        "no categories");
  EXPECT_ERROR_MENTIONS(report::grouped_bar_chart(dir.file("x"), "t", {"a"}, {}, "y"),
                        "no series");
}

TEST(ReportFigures, LineChartGivesOneColourPerDistinctName) {
  testing::TempDir dir("figures_line");
  // Two runs of "full" and one of "unbalanced": two colours, the third never used. A NaN is a gap.
  const std::vector<Series> series = {
      {"full", {1, 2, 3, 4}, {0.60, 0.80, 0.85, 0.90}},
      {"unbalanced", {1, 2, 3, 4}, {0.50, 0.70, NAN, 0.80}},
      {"full", {1, 2, 3, 4}, {0.62, 0.78, 0.86, 0.91}}};
  report::LineChartOptions options;
  options.percent = true;
  const Png png = check_files(report::line_chart(dir.file("curves"), "Validation accuracy",
                                                 "epoch", "accuracy", series, options));
  EXPECT_GT(png.count(canvas::to_hex(canvas::series_colour(0))), 300u);
  EXPECT_GT(png.count(canvas::to_hex(canvas::series_colour(1))), 100u);
  EXPECT_EQ(png.count(canvas::to_hex(canvas::series_colour(2))), 0u);

  EXPECT_ERROR_MENTIONS(
      report::line_chart(dir.file("x"), "t", "x", "y", {{"run", {1, 2}, {1, 2, 3}}}),
      "series 'run' has 2 x values but 3 y values");
  EXPECT_ERROR_MENTIONS(report::line_chart(dir.file("x"), "t", "x", "y", {{"run", {}, {}}}),
                        "series 'run' has no points");
  EXPECT_ERROR_MENTIONS(report::line_chart(dir.file("x"), "t", "x", "y", {{"r", {1}, {NAN}}}),
                        "no series has a finite y value");
  EXPECT_ERROR_MENTIONS(report::line_chart(dir.file("x"), "t", "x", "y", {}), "no series");
}

TEST(ReportFigures, ConfusionCellsAreColouredByRowShare) {
  testing::TempDir dir("figures_confusion");
  const std::vector<std::string> classes = {"Forest", "Highway", "River"};
  // Row shares: 1, 0, 0 | 1/4, 3/4, 0 | 0, 0, 0 (an empty row reads as zeros).
  const std::vector<std::vector<long long>> counts = {{40, 0, 0}, {10, 30, 0}, {0, 0, 0}};
  const Png png = check_files(
      report::confusion_matrix_chart(dir.file("cm"), "Confusion matrix", classes, counts));
  const report::ConfusionLayout layout = report::confusion_matrix_layout(classes, counts);
  EXPECT_EQ(png.width, static_cast<int>(layout.width * kPngScale));
  // A point inside cell (i, j), clear of its centred count and the hairlines.
  auto cell = [&](int i, int j) {
    const double x = layout.matrix.x + j * layout.cell + 4;
    const double y = layout.matrix.y + i * layout.cell + 4;
    return png.at(static_cast<int>(x * kPngScale), static_cast<int>(y * kPngScale));
  };
  const uint32_t darkest = canvas::to_hex(canvas::sequential_colour(1.0));
  const uint32_t lightest = canvas::to_hex(canvas::sequential_colour(0.0));
  EXPECT_TRUE(near_colour(cell(0, 0), darkest)) << std::hex << cell(0, 0);
  EXPECT_TRUE(near_colour(cell(0, 1), lightest)) << std::hex << cell(0, 1);
  EXPECT_TRUE(near_colour(cell(1, 0), canvas::to_hex(canvas::sequential_colour(0.25))))
      << std::hex << cell(1, 0);
  EXPECT_TRUE(near_colour(cell(1, 1), canvas::to_hex(canvas::sequential_colour(0.75))))
      << std::hex << cell(1, 1);
  EXPECT_TRUE(near_colour(cell(2, 2), lightest)) << std::hex << cell(2, 2);

  EXPECT_ERROR_MENTIONS(report::confusion_matrix_chart(dir.file("x"), "t", classes, {{1, 2, 3}}),
                        "counts has 1 rows for 3 classes");
  EXPECT_ERROR_MENTIONS(
      report::confusion_matrix_chart(dir.file("x"), "t", {"a", "b"}, {{1, 2}, {3}}),
      "counts row 1 ('b') has 1 columns for 2 classes");
  EXPECT_ERROR_MENTIONS(report::confusion_matrix_chart(dir.file("x"), "t", {"a"}, {{-1}}),
                        "negative count -1");
  EXPECT_ERROR_MENTIONS(report::confusion_matrix_chart(dir.file("x"), "t", {}, {}), "no classes");
}

// A w x h image whose pixel (x, y) is (seed + x, 10 * y, 255 - seed).
RgbImage pattern(int w, int h, int seed) {
  RgbImage image{w, h, {}};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      image.pixels.push_back(static_cast<uint8_t>(seed + x));
      image.pixels.push_back(static_cast<uint8_t>(10 * y));
      image.pixels.push_back(static_cast<uint8_t>(255 - seed));
    }
  return image;
}

TEST(ReportFigures, SampleGridDrawsImagesPixelExact) {
  testing::TempDir dir("figures_samples");
  const int scale = 3;
  const std::vector<SampleRow> rows = {
      {"Highway", {pattern(4, 3, 0), pattern(4, 3, 20)}, {pattern(4, 3, 40)}},
      {"River", {pattern(4, 3, 60)}, {pattern(4, 3, 80), pattern(4, 3, 100)}}};
  const FigureFiles files = report::sample_grid(dir.file("grid"), "Samples", rows, scale);
  const Png png = check_files(files);
  // Browsers scale the SVG's images without smoothing too.
  EXPECT_NE(read_file(files.svg).find("image-rendering:pixelated"), std::string::npos);
  const report::SampleGridLayout layout = report::sample_grid_layout("Samples", rows, scale);
  EXPECT_EQ(png.width, static_cast<int>(layout.width * kPngScale));
  ASSERT_EQ(layout.real.size(), 2u);
  EXPECT_EQ(layout.real[0].size(), 2u);
  EXPECT_EQ(layout.generated[1].size(), 2u);
  // The two blocks: generated images start right of the real ones, rows one image + 2 apart.
  EXPECT_GT(layout.generated[0][0].x, layout.real[0][1].x + layout.real[0][1].width);
  EXPECT_DOUBLE_EQ(layout.real[1][0].y - layout.real[0][0].y, 3 * scale + 2);
  // Every device pixel of every image equals its source pixel (nearest neighbour, whole pixels).
  auto check = [&](const RgbImage& image, const report::Rect& at) {
    EXPECT_EQ(at.x, std::round(at.x));
    EXPECT_EQ(at.width, image.width * scale);
    int wrong = 0;
    for (int py = 0; py < image.height * scale * kPngScale; ++py)
      for (int px = 0; px < image.width * scale * kPngScale; ++px) {
        const int sx = px / (scale * kPngScale), sy = py / (scale * kPngScale);
        const uint8_t* s = &image.pixels[(static_cast<size_t>(sy) * image.width + sx) * 3];
        const uint32_t want = (uint32_t{s[0]} << 16) | (uint32_t{s[1]} << 8) | s[2];
        wrong += png.at(static_cast<int>(at.x) * kPngScale + px,
                        static_cast<int>(at.y) * kPngScale + py) != want;
      }
    EXPECT_EQ(wrong, 0);
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t k = 0; k < rows[i].real.size(); ++k) check(rows[i].real[k], layout.real[i][k]);
    for (size_t k = 0; k < rows[i].generated.size(); ++k)
      check(rows[i].generated[k], layout.generated[i][k]);
  }
}

TEST(ReportFigures, SampleGridRejectsBadInput) {
  testing::TempDir dir("figures_samples_bad");
  const std::string stem = dir.file("g");
  EXPECT_ERROR_MENTIONS(report::sample_grid(stem, "t", {}, 1), "no rows");
  EXPECT_ERROR_MENTIONS(report::sample_grid(stem, "t", {{"a", {}, {}}}, 1), "no images");
  EXPECT_ERROR_MENTIONS(report::sample_grid(stem, "t", {{"a", {pattern(2, 2, 0)}, {}}}, 0),
                        "scale 0 must be in [1, 64]");
  EXPECT_ERROR_MENTIONS(
      report::sample_grid(stem, "t", {{"a", {pattern(2, 2, 0)}, {pattern(3, 2, 0)}}}, 1),
      "generated image 0 of row 'a' is 3 x 2 but the first image is 2 x 2");
  RgbImage short_image = pattern(2, 2, 0);
  short_image.pixels.pop_back();
  EXPECT_ERROR_MENTIONS(report::sample_grid(stem, "t", {{"b", {short_image}, {}}}, 1),
                        "real image 0 of row 'b' has 11 bytes, not 2 x 2 x 3");
}

}  // namespace
}  // namespace ember
