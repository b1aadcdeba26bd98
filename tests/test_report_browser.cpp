// The report page in a real browser (report/browser_check.h): a report with two figures opens
// in headless Chromium with both figures shown, no console error and a 1280 px wide
// screenshot; a page whose image does not decode is caught; a missing browser is reported,
// not thrown. Skipped, with the reason, where no Chromium is installed. Also the pieces on
// hand-written input: the <body> attribute parser, the log filter, file URLs.
#include <gtest/gtest.h>

#include <stb/stb_image.h>

#include <string>
#include <vector>

#include "datasets/image_io.h"
#include "report/browser_check.h"
#include "report/html_report.h"
#include "tensor/atomic_file.h"
#include "tests/temp_dir.h"

namespace ember {
namespace {

using report::BrowserCheck;
using report::ReportData;

// A bar chart drawn by hand, with a glyph defined and used the way cairo does it: both
// figures define "glyph0-1", so a page that did not prefix ids would draw one figure's glyph
// in the other.
std::string hand_svg(const std::string& color) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
         "width=\"480pt\" height=\"240pt\" viewBox=\"0 0 480 240\" version=\"1.1\">\n"
         "<defs><g><symbol overflow=\"visible\" id=\"glyph0-1\">"
         "<path style=\"stroke:none;\" d=\"M 0 0 L 6 -12 L 12 0 Z\"/></symbol></g></defs>\n"
         "<rect x=\"0\" y=\"0\" width=\"480\" height=\"240\" style=\"fill:#ffffff;\"/>\n"
         "<rect x=\"60\" y=\"60\" width=\"80\" height=\"150\" style=\"fill:" + color + ";\"/>\n"
         "<rect x=\"200\" y=\"100\" width=\"80\" height=\"110\" style=\"fill:" + color + ";\"/>\n"
         "<rect x=\"340\" y=\"30\" width=\"80\" height=\"180\" style=\"fill:" + color + ";\"/>\n"
         "<path style=\"fill:none;stroke:#333;stroke-width:1;\" d=\"M 40 210 L 460 210\"/>\n"
         "<g style=\"fill:#333;\"><use xlink:href=\"#glyph0-1\" x=\"94\" y=\"230\"/>"
         "<use xlink:href=\"#glyph0-1\" x=\"234\" y=\"230\"/></g>\n</svg>\n";
}

void write_rgb_png(const std::string& path, int width, int height) {
  std::vector<uint8_t> pixels(static_cast<size_t>(width * height * 3));
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &pixels[static_cast<size_t>((y * width + x) * 3)];
      p[0] = static_cast<uint8_t>(255 * x / width);
      p[1] = static_cast<uint8_t>(255 * y / height);
      p[2] = 160;
    }
  }
  datasets::write_png(path, pixels, height, width, 3);
}

ReportData two_figure_report() {
  ReportData data;
  data.title = "Browser check <test>";
  data.subtitle = "two figures, a table and a configuration";
  data.summary = {"Both figures should show."};
  data.comparisons = {{"class weights", "help the minority classes", "help them a little"}};
  data.tables = {{"groups", "Accuracy", "Made-up numbers.", {"group", "accuracy"},
                  {{"full", "0.91"}, {"unbalanced", "0.87"}}}};
  data.figures = {{"bars", "Bars", "SVG inline, PNG in details.", "bars.svg", "bars.png"},
                  {"more-bars", "More bars", "Same glyph ids as the first.", "more.svg",
                   "more.png"}};
  data.config_json = "{\n  \"preset\": \"test\"\n}";
  data.hardware = {{"CPU", "test machine"}};
  data.notes = {"A test page."};
  return data;
}

void write_figures(const testing::TempDir& dir) {
  write_file_atomically(dir.file("bars.svg"), hand_svg("#4878d0"));
  write_file_atomically(dir.file("more.svg"), hand_svg("#ee854a"));
  write_rgb_png(dir.file("bars.png"), 64, 32);
  write_rgb_png(dir.file("more.png"), 48, 24);
}

std::string describe(const BrowserCheck& c) {
  std::string s = "browser=" + c.browser + " ran=" + std::to_string(c.ran) +
                  " ok=" + std::to_string(c.ok) + " figures " + std::to_string(c.figures_ok) +
                  "/" + std::to_string(c.figures_total) + " reason: " + c.reason;
  for (const std::string& e : c.console_errors) s += "\n  console: " + e;
  return s;
}

TEST(ReportBrowser, TwoFigureReportLoadsCleanly) {
  testing::TempDir dir("report_browser_ok");
  write_figures(dir);
  const std::string html = dir.file("report.html");
  report::write_report_html(two_figure_report(), html);
  const std::string shot = dir.file("report.png");
  const BrowserCheck check = report::check_report_in_browser(html, shot, "", 60);
  if (!check.ran) GTEST_SKIP() << "no browser: " << check.reason;
  EXPECT_TRUE(check.ok) << describe(check);
  EXPECT_EQ(check.reason, "");
  EXPECT_EQ(check.figures_total, 2);
  EXPECT_EQ(check.figures_ok, 2);
  EXPECT_TRUE(check.console_errors.empty()) << describe(check);
  ASSERT_EQ(check.screenshot_path, shot);
  // The screenshot decodes, 1280 px wide (device scale factor forced to 1), and as tall as the
  // page at least a screen's worth.
  const std::string png = read_file(shot);
  int width = 0, height = 0, channels = 0;
  stbi_uc* pixels = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(png.data()),
                                          static_cast<int>(png.size()), &width, &height,
                                          &channels, 3);
  ASSERT_NE(pixels, nullptr) << "screenshot does not decode: " << stbi_failure_reason();
  EXPECT_EQ(width, 1280);
  EXPECT_GE(height, 600);
  // Not a blank page: the masthead's tint and the figures' colours are in it.
  size_t non_white = 0;
  for (int i = 0; i < width * height; ++i) {
    if (pixels[i * 3] < 240 || pixels[i * 3 + 1] < 240 || pixels[i * 3 + 2] < 240) ++non_white;
  }
  stbi_image_free(pixels);
  EXPECT_GT(non_white, static_cast<size_t>(width * height / 100));
}

TEST(ReportBrowser, BrokenImageIsCaught) {
  testing::TempDir dir("report_browser_broken");
  write_figures(dir);
  // Figure 2 has no SVG and a "PNG" of three zero bytes: the page embeds
  // <img src="data:image/png;base64,AAAA">, which no browser can decode.
  write_file_atomically(dir.file("broken.png"), std::string(3, '\0'));
  ReportData data = two_figure_report();
  data.figures[1].svg_path = "absent.svg";
  data.figures[1].png_path = "broken.png";
  const std::string html = dir.file("report.html");
  report::write_report_html(data, html);
  ASSERT_NE(read_file(html).find("src=\"data:image/png;base64,AAAA\""), std::string::npos);
  const BrowserCheck check = report::check_report_in_browser(html, dir.file("shot.png"), "", 60);
  if (!check.ran) GTEST_SKIP() << "no browser: " << check.reason;
  EXPECT_FALSE(check.ok) << describe(check);
  EXPECT_EQ(check.figures_total, 2);
  EXPECT_EQ(check.figures_ok, 1);
  EXPECT_NE(check.reason.find("figure more-bars not shown"), std::string::npos) << check.reason;
  EXPECT_NE(check.reason.find("1 of 2 figures shown"), std::string::npos) << check.reason;
}

TEST(ReportBrowser, ScriptErrorIsCaught) {
  testing::TempDir dir("report_browser_script");
  write_figures(dir);
  const std::string html = dir.file("report.html");
  report::write_report_html(two_figure_report(), html);
  // An uncaught error after the page's own scripts, as a broken addition to the page would.
  std::string page = read_file(html);
  page.replace(page.rfind("</body>"), 7, "<script>undefined_function();</script></body>");
  write_file_atomically(html, page);
  const BrowserCheck check = report::check_report_in_browser(html, dir.file("shot.png"), "", 60);
  if (!check.ran) GTEST_SKIP() << "no browser: " << check.reason;
  EXPECT_FALSE(check.ok) << describe(check);
  EXPECT_EQ(check.figures_ok, 2);
  ASSERT_FALSE(check.console_errors.empty());
  EXPECT_NE(check.reason.find("undefined_function"), std::string::npos) << check.reason;
}

TEST(ReportBrowser, MissingBrowserIsReportedNotThrown) {
  testing::TempDir dir("report_browser_missing");
  write_file_atomically(dir.file("report.html"), "<html><body></body></html>");
  const BrowserCheck check = report::check_report_in_browser(
      dir.file("report.html"), dir.file("shot.png"), "/nonexistent/chromium");
  EXPECT_FALSE(check.ran);
  EXPECT_FALSE(check.ok);
  EXPECT_NE(check.reason.find("/nonexistent/chromium"), std::string::npos) << check.reason;
  EXPECT_TRUE(check.screenshot_path.empty());
}

TEST(ReportBrowser, MissingPageIsReported) {
  testing::TempDir dir("report_browser_nopage");
  const BrowserCheck check =
      report::check_report_in_browser(dir.file("absent.html"), dir.file("shot.png"));
  EXPECT_FALSE(check.ok);
  EXPECT_NE(check.reason.find("absent.html"), std::string::npos) << check.reason;
}

TEST(ReportBrowser, BodyAttributesAreParsedAndDecoded) {
  const auto attrs = report::body_attributes(
      "<html><head><title>x</title></head>\n<body class=\"a\" data-report-check=\"failed: "
      "figure &quot;x&quot; &lt;y&gt; &amp; z > w\" data-figures-ok='2' hidden>"
      "<p data-report-check=\"no\"></p></body></html>");
  ASSERT_EQ(attrs.count("data-report-check"), 1u);
  EXPECT_EQ(attrs.at("data-report-check"), "failed: figure \"x\" <y> & z > w");
  EXPECT_EQ(attrs.at("data-figures-ok"), "2");
  EXPECT_EQ(attrs.at("class"), "a");
  EXPECT_EQ(attrs.count("hidden"), 1u);
  EXPECT_TRUE(report::body_attributes("<html><bodyx a=\"1\"></html>").empty());
  EXPECT_TRUE(report::body_attributes("").empty());
}

TEST(ReportBrowser, LogFilterKeepsOnlyPageErrors) {
  // Lines as this machine's Chromium writes them (see the browser_check.cpp comment).
  const std::string log =
      "/usr/bin/chromium: 9: [: 25276502016: unexpected operator\n"
      "[1:2:1125/040838.562940:ERROR:dbus/bus.cc:405] Failed to connect to the bus: Failed to "
      "connect to socket /run/dbus/system_bus_socket: No such file or directory\n"
      "[1:2:1125/040838.863922:WARNING:sandbox/policy/linux/sandbox_linux.cc:405] "
      "InitializeSandbox() called with multiple threads in process gpu-process.\n"
      "[1:1:1125/040844.327469:INFO:CONSOLE:4] \"a log\", source: file:///tmp/t.html (4)\n"
      "[1:1:1125/040844.328588:INFO:CONSOLE:7] \"Uncaught Error: boom\", source: "
      "file:///tmp/t.html (7)\n"
      "[1:1:1125/040844.328588:INFO:CONSOLE(9)] \"Failed to load resource: net::ERR_FILE_NOT_"
      "FOUND\", source: file:///tmp/x.png (0)\n";
  const std::vector<std::string> errors = report::console_errors_from_log(log);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("Uncaught Error: boom"), std::string::npos);
  EXPECT_NE(errors[1].find("net::ERR_FILE_NOT_FOUND"), std::string::npos);
  EXPECT_TRUE(report::console_errors_from_log("").empty());
}

TEST(ReportBrowser, FileUrlEncodesUnsafeCharacters) {
  EXPECT_EQ(report::file_url("/tmp/run 1/report#2.html"), "file:///tmp/run%201/report%232.html");
  EXPECT_EQ(report::file_url("/a/b_c-d.e~f"), "file:///a/b_c-d.e~f");
}

TEST(ReportBrowser, FindChromiumHonoursAnExplicitChoice) {
  std::string why;
  EXPECT_EQ(report::find_chromium("/nonexistent/chromium", why), "");
  EXPECT_NE(why.find("/nonexistent/chromium"), std::string::npos) << why;
  why.clear();
  // An explicit executable is taken as given, whatever it is.
  EXPECT_EQ(report::find_chromium("/bin/sh", why), "/bin/sh");
}

}  // namespace
}  // namespace ember
