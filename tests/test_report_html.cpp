// The report page and Markdown summary (report/html_report.h) without a browser: escaping,
// base64 against RFC 4648's test vectors, SVG ids made unique per figure, no external
// reference, every figure on the page (inline, PNG-only, missing), Markdown tables that keep
// their shape. The page in a real browser: tests/test_report_browser.cpp.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "datasets/image_io.h"
#include "report/html_report.h"
#include "tensor/atomic_file.h"
#include "tests/expect_error.h"
#include "tests/temp_dir.h"

namespace ember {
namespace {

using report::Figure;
using report::ReportData;
using report::Table;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t i = text.find(what); i != std::string::npos; i = text.find(what, i + 1)) ++n;
  return n;
}

// Two glyphs and a clip path referenced the way cairo's SVG surface does it.
std::string cairo_like_svg() {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
         "width=\"200pt\" height=\"100pt\" viewBox=\"0 0 200 100\" version=\"1.1\">\n"
         "<defs>\n<g>\n<symbol overflow=\"visible\" id=\"glyph0-1\">\n"
         "<path style=\"stroke:none;\" d=\"M 0 0 L 5 -8 L 10 0 Z\"/>\n</symbol>\n</g>\n"
         "<clipPath id=\"clip1\">\n<path d=\"M 0 0 L 200 0 L 200 100 L 0 100 Z\"/>\n</clipPath>\n"
         "</defs>\n"
         "<g clip-path=\"url(#clip1)\" clip-rule=\"nonzero\">\n"
         "<rect x=\"10\" y=\"10\" width=\"80\" height=\"60\" style=\"fill:rgb(20%,40%,80%);\"/>\n"
         "</g>\n"
         "<g style=\"fill:rgb(0%,0%,0%);fill-opacity:1;\">\n"
         "  <use xlink:href=\"#glyph0-1\" x=\"20\" y=\"90\"/>\n</g>\n</svg>\n";
}

// A small PNG written by stb_image_write: a 8 x 4 gradient.
std::string write_test_png(const std::string& path) {
  std::vector<uint8_t> pixels(8 * 4 * 3);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7);
  datasets::write_png(path, pixels, 4, 8, 3);
  return read_file(path);
}

TEST(ReportHtml, EscapesEveryHtmlSpecialCharacter) {
  EXPECT_EQ(report::html_escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;");
  EXPECT_EQ(report::html_escape("plain text, 91.2% ± 0.3"), "plain text, 91.2% ± 0.3");
  EXPECT_EQ(report::html_escape(""), "");
}

TEST(ReportHtml, Base64MatchesRfc4648Vectors) {
  // RFC 4648, section 10.
  EXPECT_EQ(report::base64_encode(""), "");
  EXPECT_EQ(report::base64_encode("f"), "Zg==");
  EXPECT_EQ(report::base64_encode("fo"), "Zm8=");
  EXPECT_EQ(report::base64_encode("foo"), "Zm9v");
  EXPECT_EQ(report::base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(report::base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(report::base64_encode("foobar"), "Zm9vYmFy");
  // High bytes must not sign-extend; the last two symbols of the alphabet by hand:
  // 0xFB 0xFF = 111110 111111 1111(00) -> '+' '/' '8' '='.
  EXPECT_EQ(report::base64_encode(std::string("\xfb\xff", 2)), "+/8=");
  EXPECT_EQ(report::base64_encode(std::string("\x00\x00\x00", 3)), "AAAA");
  EXPECT_EQ(report::base64_encode(std::string("\xff\xff\xff", 3)), "////");
}

TEST(ReportHtml, HtmlIdKeepsOnlySafeCharacters) {
  EXPECT_EQ(report::html_id("accuracy_per-group2"), "accuracy_per-group2");
  EXPECT_EQ(report::html_id("a b/\"c\""), "a-b--c-");
  EXPECT_EQ(report::html_id(""), "x");
}

TEST(ReportHtml, InlineSvgDropsPrologAndPrefixesIdsAndReferences) {
  const std::string svg = report::inline_svg(cairo_like_svg(), "fig-a");
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u) << "prolog not dropped: " << svg.substr(0, 60);
  EXPECT_EQ(svg.find("<?xml"), std::string::npos);
  EXPECT_EQ(svg.substr(svg.size() - 6), "</svg>");
  EXPECT_NE(svg.find("id=\"fig-a-glyph0-1\""), std::string::npos);
  EXPECT_NE(svg.find("id=\"fig-a-clip1\""), std::string::npos);
  EXPECT_NE(svg.find("xlink:href=\"#fig-a-glyph0-1\""), std::string::npos);
  EXPECT_NE(svg.find("clip-path=\"url(#fig-a-clip1)\""), std::string::npos);
  EXPECT_EQ(svg.find("id=\"glyph0-1\""), std::string::npos);
  EXPECT_EQ(svg.find("\"#glyph"), std::string::npos);
  EXPECT_EQ(svg.find("url(#clip1)"), std::string::npos);
  // Only ids and references change: everything else is byte for byte the same.
  EXPECT_EQ(svg.size(), cairo_like_svg().size() - cairo_like_svg().find("<svg") - 1 /*'\n'*/ +
                            4 * std::string("fig-a-").size());

  // Attributes that merely end in "id" and single-quoted forms.
  EXPECT_EQ(report::inline_svg("<svg data-id=\"k\" grid=\"1\"><g id='a'/><use href='#a'/>"
                               "<rect style=\"fill:url(#a)\"/></svg>",
                               "p"),
            "<svg data-id=\"k\" grid=\"1\"><g id='p-a'/><use href='#p-a'/>"
            "<rect style=\"fill:url(#p-a)\"/></svg>");
  // The prefix itself is made safe.
  EXPECT_NE(report::inline_svg("<svg><g id=\"a\"/></svg>", "my fig").find("id=\"my-fig-a\""),
            std::string::npos);
}

TEST(ReportHtml, InlineSvgRejectsTextWithoutSvg) {
  EXPECT_ERROR_MENTIONS(report::inline_svg("<html>not a figure</html>", "f"), "no <svg");
  EXPECT_ERROR_MENTIONS(report::inline_svg("<svg width=\"1\">", "f"), "no <svg");
}

// A report with everything in it; two figures whose SVGs define the same glyph ids.
struct Fixture {
  testing::TempDir dir{"report_html"};
  ReportData data;
  std::string png;

  Fixture() {
    write_file_atomically(dir.file("a.svg"), cairo_like_svg());
    write_file_atomically(dir.file("b.svg"), cairo_like_svg());
    png = write_test_png(dir.file("a.png"));
    write_test_png(dir.file("b.png"));
    data.title = "Quick run";
    data.subtitle = "preset quick, 2026-11-25";
    data.summary = {"Class weights help the minority classes.", "The GAN adds little."};
    data.comparisons = {{"class weights", "help", "help a bit"}};
    data.tables = {{"groups", "Accuracy per group", "Mean over 3 seeds.",
                    {"group", "accuracy", "runs"},
                    {{"full", "0.912", "3"}, {"unbalanced", "0.871", "3"}}}};
    data.figures = {{"accuracy", "Accuracy", "Mean test accuracy per group.", "a.svg", "a.png"},
                    {"minority", "Minority", "Highway and River.", dir.file("b.svg"),
                     dir.file("b.png")}};
    data.config_json = "{\n  \"preset\": \"quick\"\n}";
    data.hardware = {{"CPU", "2 cores"}};
    data.notes = {"Three runs per group say little."};
  }
};

TEST(ReportHtml, PageHasEveryFigureWithUniqueIdsAndItsPng) {
  Fixture f;
  const std::string page = report::render_report_html(f.data, f.dir.path.string());
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(page, "<figure class=\"report-figure\""), 2u);
  EXPECT_NE(page.find("id=\"fig-accuracy\""), std::string::npos);
  EXPECT_NE(page.find("id=\"fig-minority\""), std::string::npos);
  EXPECT_NE(page.find("data-figures-expected=\"2\""), std::string::npos);
  EXPECT_EQ(count(page, "<svg "), 2u);
  // The same glyph id, once per figure, each with its figure's prefix.
  EXPECT_EQ(count(page, "id=\"fig-accuracy-glyph0-1\""), 1u);
  EXPECT_EQ(count(page, "id=\"fig-minority-glyph0-1\""), 1u);
  EXPECT_EQ(count(page, "id=\"glyph0-1\""), 0u);
  EXPECT_EQ(count(page, "href=\"#fig-minority-glyph0-1\""), 1u);
  // Each PNG as a data: URI in a "PNG" <details>.
  EXPECT_EQ(count(page, "<summary>PNG</summary>"), 2u);
  EXPECT_NE(page.find("src=\"data:image/png;base64," + report::base64_encode(f.png) + "\""),
            std::string::npos);
  // Sections, in the table of contents and on the page.
  for (const char* id : {"summary", "seed-vs-ours", "tables", "figures", "notes", "hardware",
                         "configuration", "table-groups"}) {
    EXPECT_NE(page.find(std::string("href=\"#") + id + "\""), std::string::npos) << id;
    EXPECT_NE(page.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  }
  EXPECT_NE(page.find("Mean test accuracy per group."), std::string::npos);
  EXPECT_NE(page.find("<td class=\"num\">0.912</td>"), std::string::npos);
  EXPECT_NE(page.find("<td>unbalanced</td>"), std::string::npos);
  EXPECT_NE(page.find("&quot;preset&quot;: &quot;quick&quot;"), std::string::npos);
}

TEST(ReportHtml, PageReferencesNothingOutside) {
  Fixture f;
  const std::string page = report::render_report_html(f.data, f.dir.path.string());
  // The only URLs allowed are the SVG and XLink namespace names, which are never fetched.
  for (const char* scheme : {"http://", "https://"}) {
    for (size_t i = page.find(scheme); i != std::string::npos; i = page.find(scheme, i + 1)) {
      const std::string rest = page.substr(i, 40);
      const bool ns = rest.rfind("http://www.w3.org/2000/svg\"", 0) == 0 ||
                      rest.rfind("http://www.w3.org/1999/xlink\"", 0) == 0;
      EXPECT_TRUE(ns) << "external reference: " << rest;
    }
  }
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_EQ(page.find("@import"), std::string::npos);
  EXPECT_EQ(page.find("src=\"file:"), std::string::npos);
  EXPECT_EQ(page.find("src=\"a.png"), std::string::npos);
  EXPECT_EQ(count(page, "<img "), count(page, "<img alt=\"") );
  EXPECT_EQ(count(page, " src=\""), count(page, " src=\"data:image/png;base64,"));
}

TEST(ReportHtml, EveryTextFieldIsEscaped) {
  Fixture f;
  const std::string evil = "<script>alert(1)</script>";
  f.data.title = evil;
  f.data.subtitle = evil;
  f.data.summary = {evil};
  f.data.comparisons = {{evil, evil, evil}};
  f.data.tables = {{evil, evil, evil, {evil}, {{evil}}}};
  f.data.figures[0].title = evil;
  f.data.figures[0].caption = evil;
  f.data.figures[0].id = evil;
  f.data.config_json = evil;
  f.data.hardware = {{evil, evil}};
  f.data.notes = {evil};
  const std::string page = report::render_report_html(f.data, f.dir.path.string());
  EXPECT_EQ(page.find(evil), std::string::npos);
  EXPECT_EQ(page.find("alert(1)</script>"), std::string::npos);
  EXPECT_GE(count(page, "&lt;script&gt;alert(1)&lt;/script&gt;"), 15u);
  EXPECT_NE(page.find("<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>"), std::string::npos);
  // The page's own two scripts, and no other.
  EXPECT_EQ(count(page, "<script>"), 2u);
}

TEST(ReportHtml, FigureFallsBackToPngThenToAVisibleNotice) {
  Fixture f;
  f.data.figures[0].svg_path = "absent.svg";  // PNG only: shown as <img> in the figure body
  f.data.figures[1].svg_path = "absent.svg";  // neither
  f.data.figures[1].png_path = "";
  const std::string page = report::render_report_html(f.data, f.dir.path.string());
  EXPECT_EQ(count(page, "<figure class=\"report-figure\""), 2u);
  EXPECT_EQ(count(page, "<svg "), 0u);
  EXPECT_NE(page.find("<div class=\"figure-body\">\n<img alt=\"Accuracy\" src=\"data:image/png;"),
            std::string::npos);
  EXPECT_EQ(count(page, "<summary>PNG</summary>"), 0u);
  EXPECT_EQ(count(page, "class=\"missing\""), 1u);
  EXPECT_NE(page.find("absent.svg"), std::string::npos) << "the notice names the file";

  // A file that is not SVG is no reason to lose the figure either.
  write_file_atomically(f.dir.file("bad.svg"), "not svg");
  f.data.figures[0].svg_path = "bad.svg";
  const std::string page2 = report::render_report_html(f.data, f.dir.path.string());
  EXPECT_NE(page2.find("<div class=\"figure-body\">\n<img alt=\"Accuracy\""), std::string::npos);
}

TEST(ReportHtml, DuplicateIdsGetASuffix) {
  Fixture f;
  f.data.figures[1].id = "accuracy";
  f.data.tables.push_back(f.data.tables[0]);
  f.data.tables[1].id = "summary";  // must not take the section's anchor
  const std::string page = report::render_report_html(f.data, f.dir.path.string());
  EXPECT_EQ(count(page, "id=\"fig-accuracy\""), 1u);
  EXPECT_EQ(count(page, "id=\"fig-accuracy-2\""), 1u);
  EXPECT_EQ(count(page, "id=\"fig-accuracy-2-glyph0-1\""), 1u);
  EXPECT_EQ(count(page, "id=\"summary\""), 1u);
  EXPECT_EQ(count(page, "id=\"table-summary\""), 1u);
}

TEST(ReportHtml, WriteReportHtmlResolvesFiguresBesideThePage) {
  Fixture f;
  const std::string path = f.dir.file("report.html");
  write_file_atomically(path, "old");
  report::write_report_html(f.data, path);
  const std::string page = read_file(path);
  EXPECT_EQ(page, report::render_report_html(f.data, f.dir.path.string()));
  EXPECT_EQ(count(page, "<svg "), 2u) << "a.svg, relative, found beside report.html";
  EXPECT_EQ(count(page, "class=\"missing\""), 0u);
}

TEST(ReportHtml, EmptySectionsAreLeftOut) {
  ReportData data;
  data.title = "Only a title";
  const std::string page = report::render_report_html(data, "");
  EXPECT_NE(page.find("<h1>Only a title</h1>"), std::string::npos);
  EXPECT_EQ(page.find("<h2>Figures</h2>"), std::string::npos);
  EXPECT_EQ(page.find("href=\"#figures\""), std::string::npos);
  EXPECT_NE(page.find("data-figures-expected=\"0\""), std::string::npos);
}

// Splits a Markdown table row on its unescaped pipes.
std::vector<std::string> markdown_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  for (size_t i = 1; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') {
      cell += "\\|";
      ++i;
    } else if (line[i] == '|') {
      cells.push_back(cell);
      cell.clear();
    } else {
      cell += line[i];
    }
  }
  return cells;
}

TEST(ReportHtml, MarkdownSummaryHasWellFormedTables) {
  Fixture f;
  f.data.tables[0].rows.push_back({"a|b", "line one\nline two"});  // short row, pipe, newline
  const std::string md = report::render_markdown_summary(f.data);
  EXPECT_EQ(md.rfind("# Quick run\n", 0), 0u);
  EXPECT_NE(md.find("- Class weights help the minority classes.\n"), std::string::npos);
  EXPECT_NE(md.find("| Topic | The seed | This run |\n| --- | --- | --- |\n"
                    "| class weights | help | help a bit |\n"),
            std::string::npos);
  EXPECT_NE(md.find("## Accuracy per group\n\nMean over 3 seeds.\n\n"
                    "| group | accuracy | runs |\n| --- | --- | --- |\n| full | 0.912 | 3 |\n"
                    "| unbalanced | 0.871 | 3 |\n| a\\|b | line one line two |  |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("- Three runs per group say little.\n"), std::string::npos);
  EXPECT_NE(md.find("- Accuracy: a.svg\n"), std::string::npos);

  // Every block of consecutive table lines: a header, a separator, rows of the same width.
  std::vector<std::vector<std::string>> block;
  size_t blocks = 0;
  auto check_block = [&] {
    if (block.empty()) return;
    ++blocks;
    ASSERT_GE(block.size(), 2u);
    for (const auto& cells : block) EXPECT_EQ(cells.size(), block[0].size());
    for (const auto& cell : block[1]) EXPECT_EQ(cell, " --- ");
    block.clear();
  };
  std::stringstream lines(md);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line[0] == '|') {
      EXPECT_EQ(line.back(), '|') << line;
      block.push_back(markdown_cells(line));
    } else {
      check_block();
    }
  }
  check_block();
  EXPECT_EQ(blocks, 2u);
}

}  // namespace
}  // namespace ember
