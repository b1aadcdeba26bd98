// The report page and the Markdown summary (see html_report.h). The page is written by hand,
// section by section, with every text field escaped; its look lives in kStyle, its self-check
// in kErrorHook (installed first, in <head>, so that it sees every error) and kCheckScript (run
// on "load"). Tested in tests/test_report_html.cpp and tests/test_report_browser.cpp.
#include "report/html_report.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <set>
#include <sstream>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace ember::report {

namespace {

namespace fs = std::filesystem;

// Laptop first (a sticky table of contents beside a ~960 px column), one column below 1000 px,
// and a print style without the navigation and the PNG copies. System fonts only: the page
// must not fetch anything.
constexpr const char* kStyle = R"CSS(
:root {
  --ink: #1f2933; --muted: #52606d; --line: #d9e2ec; --soft: #f5f7fa;
  --accent: #2457a6; --accent-soft: #e8eff9; --good: #1f7a4d; --bad: #b42318;
}
* { box-sizing: border-box; }
html { font-size: 16px; }
body {
  margin: 0; color: var(--ink); background: #fff;
  font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; line-height: 1.5;
}
.masthead {
  padding: 28px 40px 22px; border-bottom: 1px solid var(--line);
  background: linear-gradient(180deg, var(--accent-soft), #fff);
}
.masthead h1 { margin: 0 0 4px; font-size: 1.9rem; line-height: 1.2; letter-spacing: -0.01em; }
.masthead .subtitle { margin: 0; color: var(--muted); }
.layout {
  display: grid; grid-template-columns: 230px minmax(0, 1fr); gap: 36px;
  max-width: 1280px; padding: 0 40px 0 24px;
}
nav.toc {
  position: sticky; top: 0; align-self: start; max-height: 100vh; overflow-y: auto;
  padding: 24px 0 24px 8px; font-size: 0.88rem;
}
nav.toc h2 {
  margin: 0 0 8px; font-size: 0.75rem; text-transform: uppercase; letter-spacing: 0.08em;
  color: var(--muted);
}
nav.toc ol { list-style: none; margin: 0; padding: 0; }
nav.toc ol ol { padding-left: 14px; margin: 2px 0 6px; border-left: 2px solid var(--line); }
nav.toc li { margin: 2px 0; }
nav.toc a { color: var(--ink); text-decoration: none; }
nav.toc a:hover { color: var(--accent); text-decoration: underline; }
nav.toc ol ol a { color: var(--muted); }
main { min-width: 0; padding: 8px 0 40px; }
section { margin: 0 0 12px; }
h2 {
  margin: 28px 0 12px; padding-bottom: 6px; font-size: 1.35rem;
  border-bottom: 2px solid var(--accent-soft);
}
h3 { margin: 22px 0 8px; font-size: 1.08rem; }
a { color: var(--accent); }
ul.headline { margin: 0; padding: 14px 18px 14px 36px; background: var(--soft);
  border-left: 4px solid var(--accent); border-radius: 4px; }
ul.headline li { margin: 4px 0; }
ul.notes li { margin: 4px 0; }
.table-scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.92rem; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 12px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
thead th { background: var(--soft); border-bottom: 2px solid var(--line); font-weight: 600; }
tbody tr:nth-child(even) td, tbody tr:nth-child(even) th { background: #fbfcfd; }
td.num, th.num { text-align: right; white-space: nowrap; }
table.compare { width: 100%; }
table.compare td:first-child { font-weight: 600; white-space: nowrap; }
table.compare th:nth-child(2), table.compare th:nth-child(3) { width: 42%; }
table.kv th { background: none; border-bottom: 1px solid var(--line); width: 180px; }
p.caption, figcaption { color: var(--muted); font-size: 0.9rem; margin: 6px 0 0; }
figure.report-figure { margin: 18px 0 28px; padding: 0; }
figure.report-figure h3 { margin-top: 0; }
.figure-body { padding: 12px; border: 1px solid var(--line); border-radius: 6px;
  background: #fff; }
.figure-body svg, .figure-body img { display: block; max-width: 100%; height: auto;
  margin: 0 auto; }
details.png { margin-top: 6px; font-size: 0.85rem; color: var(--muted); }
details.png summary { cursor: pointer; }
details.png img { display: block; max-width: 100%; height: auto; margin-top: 6px;
  border: 1px solid var(--line); }
.missing { color: var(--bad); background: #fef3f2; padding: 10px 12px; border-radius: 4px; }
pre.config { margin: 0; padding: 14px 16px; background: var(--soft); border: 1px solid var(--line);
  border-radius: 6px; overflow-x: auto; font-size: 0.82rem; line-height: 1.45;
  font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
footer { color: var(--muted); font-size: 0.8rem; padding: 16px 40px 32px;
  border-top: 1px solid var(--line); }
@media (max-width: 1000px) {
  .layout { display: block; padding: 0 20px; }
  .masthead { padding: 22px 20px 18px; }
  nav.toc { position: static; max-height: none; padding: 16px 0 0; }
}
@media print {
  nav.toc, details.png, footer { display: none; }
  .layout { display: block; padding: 0; max-width: none; }
  .masthead { background: none; padding: 0 0 12px; }
  figure.report-figure, table, .table-block, pre.config { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  pre.config { white-space: pre-wrap; }
}
)CSS";

// Runs before anything else on the page: every uncaught error, failed resource load and
// console.error is recorded so that the check can report it (Chromium's stderr log does not
// say which console messages are errors).
constexpr const char* kErrorHook = R"JS(
window.__emberErrors = [];
window.addEventListener("error", function (e) {
  var t = e.target;
  if (t && t !== window && t.tagName) {
    var src = String(t.currentSrc || t.src || t.href || "");
    window.__emberErrors.push("failed to load <" + t.tagName.toLowerCase() + "> " +
                              src.slice(0, 60));
  } else {
    window.__emberErrors.push("uncaught: " + (e.message || "error"));
  }
}, true);
window.addEventListener("unhandledrejection", function (e) {
  window.__emberErrors.push("unhandled rejection: " + String(e.reason));
});
(function () {
  var original = console.error;
  console.error = function () {
    window.__emberErrors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
})();
)JS";

// After "load": every <img> decoded (complete, naturalWidth > 0), every figure showing an
// <svg> with a size or a decoded <img>, as many figures as the page was written with, and no
// recorded error. The verdict goes into <body data-...> for --dump-dom.
constexpr const char* kCheckScript = R"JS(
(function () {
  function imageOk(img) { return img.complete && img.naturalWidth > 0; }
  function run() {
    var body = document.body, problems = [];
    var images = document.images, imagesOk = 0;
    for (var i = 0; i < images.length; ++i) {
      if (imageOk(images[i])) imagesOk++;
      else problems.push("image " + (images[i].alt || i) + " did not load");
    }
    var figures = document.querySelectorAll("figure.report-figure"), figuresOk = 0;
    for (var f = 0; f < figures.length; ++f) {
      var fig = figures[f], shown = false, allImages = true;
      var svg = fig.querySelector(".figure-body svg");
      if (svg) {
        var box = svg.getBoundingClientRect();
        shown = box.width > 0 && box.height > 0 && svg.childElementCount > 0;
      }
      var imgs = fig.querySelectorAll("img");
      for (var k = 0; k < imgs.length; ++k) {
        if (imageOk(imgs[k])) { if (!svg) shown = true; } else allImages = false;
      }
      if (shown && allImages && !fig.querySelector(".missing")) figuresOk++;
      else problems.push("figure " + fig.getAttribute("data-figure-id") + " not shown");
    }
    var expected = parseInt(body.getAttribute("data-figures-expected") || "0", 10);
    if (figures.length !== expected) {
      problems.push(figures.length + " figures on the page, " + expected + " written");
    }
    var errors = window.__emberErrors || [];
    if (errors.length) problems.push(errors.length + " error(s): " + errors.join(" | "));
    body.setAttribute("data-figures-total", String(expected));
    body.setAttribute("data-figures-ok", String(figuresOk));
    body.setAttribute("data-images-total", String(images.length));
    body.setAttribute("data-images-ok", String(imagesOk));
    body.setAttribute("data-console-errors", String(errors.length));
    body.setAttribute("data-console-error-text", errors.join(" | ").slice(0, 2000));
    body.setAttribute("data-page-height",
                      String(Math.ceil(document.documentElement.scrollHeight)));
    body.setAttribute("data-report-check",
                      problems.length ? "failed: " + problems.join("; ").slice(0, 2000) : "ok");
  }
  if (document.readyState === "complete") run();
  else window.addEventListener("load", run);
})();
)JS";

// Hands out ids unique within the page: a second "accuracy" becomes "accuracy-2".
class IdAllocator {
 public:
  std::string take(const std::string& prefix, const std::string& wanted) {
    const std::string base = prefix + html_id(wanted);
    std::string id = base;
    for (int n = 2; used_.count(id) != 0; ++n) id = base + "-" + std::to_string(n);
    used_.insert(id);
    return id;
  }

 private:
  std::set<std::string> used_;
};

bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// "0.912", "-3", "91.2%", "0.91 ± 0.02", "1e-3": right-aligned. "3 runs", "Highway": not.
bool looks_numeric(const std::string& cell) {
  size_t i = 0;
  while (i < cell.size() && cell[i] == ' ') ++i;
  if (i < cell.size() && (cell[i] == '+' || cell[i] == '-')) ++i;
  if (i < cell.size() && cell[i] == '.') ++i;
  if (i >= cell.size() || !std::isdigit(static_cast<unsigned char>(cell[i]))) return false;
  for (char c : cell) {
    if (is_ascii_letter(c) && c != 'e' && c != 'E') return false;
  }
  return true;
}

std::string resolve(const std::string& path, const std::string& report_dir) {
  if (path.empty()) return path;
  const fs::path p(path);
  return p.is_absolute() || report_dir.empty() ? p.string() : (fs::path(report_dir) / p).string();
}

// The file's bytes, or "" with `why` set when it is missing or unreadable.
std::string try_read(const std::string& path, std::string& why) {
  if (path.empty()) {
    why = "no file given";
    return {};
  }
  try {
    std::string bytes = read_file(path);
    if (bytes.empty()) why = path + " is empty";
    return bytes;
  } catch (const std::exception& e) {
    why = e.what();
    return {};
  }
}

std::string image_mime(const std::string& bytes) {
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
      static_cast<unsigned char>(bytes[1]) == 0xD8)
    return "image/jpeg";
  return "image/png";
}

void write_table(std::ostringstream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, const char* css_class) {
  // Numeric columns are right-aligned as a whole (header included) when every body cell in
  // them is numeric, so that digits line up.
  size_t width = header.size();
  for (const auto& row : rows) width = std::max(width, row.size());
  std::vector<bool> numeric(width, !rows.empty());
  for (const auto& row : rows) {
    for (size_t c = 0; c < width; ++c) {
      if (c >= row.size() || !looks_numeric(row[c])) numeric[c] = false;
    }
  }
  auto cls = [&](size_t c) { return numeric[c] ? " class=\"num\"" : ""; };
  out << "<div class=\"table-scroll\"><table" << (css_class ? " class=\"" : "")
      << (css_class ? css_class : "") << (css_class ? "\"" : "") << ">\n";
  if (!header.empty()) {
    out << "<thead><tr>";
    for (size_t c = 0; c < width; ++c) {
      out << "<th" << cls(c) << ">" << (c < header.size() ? html_escape(header[c]) : "")
          << "</th>";
    }
    out << "</tr></thead>\n";
  }
  out << "<tbody>\n";
  for (const auto& row : rows) {
    out << "<tr>";
    for (size_t c = 0; c < width; ++c) {
      out << "<td" << cls(c) << ">" << (c < row.size() ? html_escape(row[c]) : "") << "</td>";
    }
    out << "</tr>\n";
  }
  out << "</tbody></table></div>\n";
}

void write_figure(std::ostringstream& out, const Figure& figure, const std::string& anchor,
                  const std::string& report_dir) {
  std::string svg_why, png_why, svg_html;
  const std::string svg_path = resolve(figure.svg_path, report_dir);
  const std::string png_path = resolve(figure.png_path, report_dir);
  const std::string svg_text = try_read(svg_path, svg_why);
  if (!svg_text.empty()) {
    try {
      svg_html = inline_svg(svg_text, anchor);
    } catch (const std::exception& e) {
      svg_why = e.what();
    }
  }
  const std::string png = try_read(png_path, png_why);
  const std::string alt = html_escape(figure.title.empty() ? figure.id : figure.title);
  std::string png_img;
  if (!png.empty()) {
    png_img = "<img alt=\"" + alt + "\" src=\"data:" + image_mime(png) + ";base64," +
              base64_encode(png) + "\">";
  }

  out << "<figure class=\"report-figure\" id=\"" << anchor << "\" data-figure-id=\""
      << html_escape(figure.id) << "\">\n";
  if (!figure.title.empty()) out << "<h3>" << html_escape(figure.title) << "</h3>\n";
  out << "<div class=\"figure-body\">\n";
  if (!svg_html.empty()) {
    out << svg_html << "\n";
  } else if (!png_img.empty()) {
    out << png_img << "\n";
  } else {
    out << "<p class=\"missing\">This figure could not be included. SVG: "
        << html_escape(svg_why) << ". PNG: " << html_escape(png_why) << ".</p>\n";
  }
  out << "</div>\n";
  if (!figure.caption.empty()) {
    out << "<figcaption>" << html_escape(figure.caption) << "</figcaption>\n";
  }
  // The PNG stays with the SVG: it is the copy that shows where inline SVG does not (mail
  // clients, some viewers), and it is what a reader right-clicks to save.
  if (!svg_html.empty() && !png_img.empty()) {
    out << "<details class=\"png\"><summary>PNG</summary>" << png_img << "</details>\n";
  }
  out << "</figure>\n";
}

// One Markdown cell: "|" escaped, line breaks folded, so that a cell never breaks its row.
std::string markdown_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

void markdown_table(std::ostringstream& out, const std::vector<std::string>& header,
                    const std::vector<std::vector<std::string>>& rows) {
  size_t width = header.size();
  for (const auto& row : rows) width = std::max(width, row.size());
  if (width == 0) return;
  auto line = [&](const std::vector<std::string>& cells) {
    out << "|";
    for (size_t c = 0; c < width; ++c) {
      out << " " << (c < cells.size() ? markdown_cell(cells[c]) : "") << " |";
    }
    out << "\n";
  };
  line(header);
  out << "|";
  for (size_t c = 0; c < width; ++c) out << " --- |";
  out << "\n";
  for (const auto& row : rows) line(row);
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64_encode(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  // Three bytes (24 bits) become four 6-bit symbols.
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
                       (static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                       static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 2]));
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  // One or two bytes left: pad with zero bits, and "=" stands for each missing symbol.
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string html_id(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool keep = is_ascii_letter(c) || std::isdigit(static_cast<unsigned char>(c)) ||
                      c == '-' || c == '_';
    out += keep ? c : '-';
  }
  return out.empty() ? std::string("x") : out;
}

std::string inline_svg(const std::string& svg_text, const std::string& prefix) {
  const size_t start = svg_text.find("<svg");
  const size_t end = svg_text.rfind("</svg>");
  EMBER_CHECK(start != std::string::npos && end != std::string::npos && end > start,
              "inline_svg: no <svg ...> ... </svg> element in the ", svg_text.size(),
              " bytes given (prefix '", prefix, "')");
  const std::string svg = svg_text.substr(start, end + 6 - start);
  const std::string p = html_id(prefix) + "-";
  std::string out;
  out.reserve(svg.size() + svg.size() / 8);
  // One pass; at each position, one of three patterns may start: an id attribute (preceded by
  // white space, so that "data-id=" or "grid=" is not taken), a fragment reference in an
  // attribute ('href="#' covers xlink:href too), or a url(#...) reference in style or
  // attributes (fill="url(#g)", clip-path="url(#c)").
  size_t i = 0;
  while (i < svg.size()) {
    const bool after_space = i > 0 && std::isspace(static_cast<unsigned char>(svg[i - 1]));
    if (after_space && svg.compare(i, 4, "id=\"") == 0) {
      out += "id=\"" + p;
      i += 4;
    } else if (after_space && svg.compare(i, 4, "id='") == 0) {
      out += "id='" + p;
      i += 4;
    } else if (svg.compare(i, 7, "href=\"#") == 0) {
      out += "href=\"#" + p;
      i += 7;
    } else if (svg.compare(i, 7, "href='#") == 0) {
      out += "href='#" + p;
      i += 7;
    } else if (svg.compare(i, 5, "url(#") == 0) {
      out += "url(#" + p;
      i += 5;
    } else {
      out += svg[i++];
    }
  }
  return out;
}

namespace {

// The page's anchors. The fixed sections take theirs first, so that no table or figure id can.
struct PageIds {
  std::string summary, compare, tables, figures, notes, hardware, config;
  std::vector<std::string> table, figure;  // one per table, per figure
};

PageIds page_ids(const ReportData& data) {
  IdAllocator ids;
  PageIds p;
  p.summary = ids.take("", "summary");
  p.compare = ids.take("", "seed-vs-ours");
  p.tables = ids.take("", "tables");
  p.figures = ids.take("", "figures");
  p.notes = ids.take("", "notes");
  p.hardware = ids.take("", "hardware");
  p.config = ids.take("", "configuration");
  for (const Table& t : data.tables) p.table.push_back(ids.take("table-", t.id));
  for (const Figure& f : data.figures) p.figure.push_back(ids.take("fig-", f.id));
  return p;
}

// <head> with the error hook first (it must see every later error), then <body> in the state
// the check script starts from.
void write_head(std::ostringstream& out, const std::string& title, size_t figures) {
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      << "<title>" << html_escape(title) << "</title>\n"
      << "<script>" << kErrorHook << "</script>\n"
      << "<style>" << kStyle << "</style>\n</head>\n"
      << "<body data-report-check=\"not-run\" data-figures-expected=\"" << figures << "\">\n";
}

void write_masthead(std::ostringstream& out, const std::string& title,
                    const std::string& subtitle) {
  out << "<header class=\"masthead\">\n<h1>" << html_escape(title) << "</h1>\n";
  if (!subtitle.empty()) out << "<p class=\"subtitle\">" << html_escape(subtitle) << "</p>\n";
  out << "</header>\n";
}

void write_contents_item(std::ostringstream& out, const std::string& id,
                         const std::string& text) {
  out << "<li><a href=\"#" << id << "\">" << html_escape(text) << "</a></li>\n";
}

// A section with one entry per table or figure below it (none without them).
void write_contents_group(std::ostringstream& out, const std::string& id,
                          const std::string& text, const std::vector<std::string>& child_ids,
                          const std::vector<std::string>& child_texts) {
  if (child_ids.empty()) return;
  out << "<li><a href=\"#" << id << "\">" << html_escape(text) << "</a>\n<ol>\n";
  for (size_t i = 0; i < child_ids.size(); ++i)
    write_contents_item(out, child_ids[i], child_texts[i]);
  out << "</ol></li>\n";
}

// The table of contents: only the sections that have something in them.
void write_contents(std::ostringstream& out, const ReportData& data, const PageIds& ids) {
  std::vector<std::string> table_texts, figure_texts;
  for (const Table& t : data.tables) table_texts.push_back(t.title.empty() ? t.id : t.title);
  for (const Figure& f : data.figures) figure_texts.push_back(f.title.empty() ? f.id : f.title);
  out << "<nav class=\"toc\">\n<h2>Contents</h2>\n<ol>\n";
  if (!data.summary.empty()) write_contents_item(out, ids.summary, "Summary");
  if (!data.comparisons.empty()) write_contents_item(out, ids.compare, "The seed and ours");
  write_contents_group(out, ids.tables, "Tables", ids.table, table_texts);
  write_contents_group(out, ids.figures, "Figures", ids.figure, figure_texts);
  if (!data.notes.empty()) write_contents_item(out, ids.notes, "Notes and caveats");
  if (!data.hardware.empty()) write_contents_item(out, ids.hardware, "Hardware");
  if (!data.config_json.empty()) write_contents_item(out, ids.config, "Configuration");
  out << "</ol>\n</nav>\n";
}

// The sections below are left out when they would be empty.

void open_section(std::ostringstream& out, const std::string& id, const char* heading) {
  out << "<section id=\"" << id << "\">\n<h2>" << heading << "</h2>\n";
}

// A section that is one bulleted list (the summary, the notes).
void write_list_section(std::ostringstream& out, const std::string& id, const char* heading,
                        const char* list_class, const std::vector<std::string>& lines) {
  if (lines.empty()) return;
  open_section(out, id, heading);
  out << "<ul class=\"" << list_class << "\">\n";
  for (const std::string& line : lines) out << "<li>" << html_escape(line) << "</li>\n";
  out << "</ul>\n</section>\n";
}

void write_comparisons(std::ostringstream& out, const std::string& id,
                       const std::vector<Comparison>& comparisons) {
  if (comparisons.empty()) return;
  open_section(out, id, "The seed's conclusions and ours");
  std::vector<std::vector<std::string>> rows;
  for (const Comparison& c : comparisons) rows.push_back({c.topic, c.seed, c.ours});
  write_table(out, {"Topic", "The seed", "This run"}, rows, "compare");
  out << "</section>\n";
}

void write_tables(std::ostringstream& out, const PageIds& ids, const std::vector<Table>& tables) {
  if (tables.empty()) return;
  open_section(out, ids.tables, "Tables");
  for (size_t i = 0; i < tables.size(); ++i) {
    const Table& t = tables[i];
    out << "<div class=\"table-block\" id=\"" << ids.table[i] << "\">\n";
    if (!t.title.empty()) out << "<h3>" << html_escape(t.title) << "</h3>\n";
    write_table(out, t.header, t.rows, nullptr);
    if (!t.caption.empty()) out << "<p class=\"caption\">" << html_escape(t.caption) << "</p>\n";
    out << "</div>\n";
  }
  out << "</section>\n";
}

void write_figures(std::ostringstream& out, const PageIds& ids, const std::vector<Figure>& figures,
                   const std::string& report_dir) {
  if (figures.empty()) return;
  open_section(out, ids.figures, "Figures");
  for (size_t i = 0; i < figures.size(); ++i)
    write_figure(out, figures[i], ids.figure[i], report_dir);
  out << "</section>\n";
}

void write_hardware(std::ostringstream& out, const std::string& id,
                    const std::vector<std::pair<std::string, std::string>>& hardware) {
  if (hardware.empty()) return;
  open_section(out, id, "Hardware");
  out << "<div class=\"table-scroll\"><table class=\"kv\"><tbody>\n";
  for (const auto& [key, value] : hardware) {
    out << "<tr><th scope=\"row\">" << html_escape(key) << "</th><td>" << html_escape(value)
        << "</td></tr>\n";
  }
  out << "</tbody></table></div>\n</section>\n";
}

void write_configuration(std::ostringstream& out, const std::string& id,
                         const std::string& config_json) {
  if (config_json.empty()) return;
  open_section(out, id, "Configuration");
  out << "<pre class=\"config\">" << html_escape(config_json) << "</pre>\n</section>\n";
}

// The footer, then the check script (it waits for "load" itself).
void write_footer(std::ostringstream& out) {
  out << "<footer>Written by ember's experiment runner. This page is "
         "self-contained: every figure is inside it, and it loads nothing from elsewhere."
         "</footer>\n"
      << "<script>" << kCheckScript << "</script>\n</body>\n</html>\n";
}

}  // namespace

std::string render_report_html(const ReportData& data, const std::string& report_dir) {
  const PageIds ids = page_ids(data);
  const std::string title = data.title.empty() ? std::string("Experiment report") : data.title;
  std::ostringstream out;
  write_head(out, title, data.figures.size());
  write_masthead(out, title, data.subtitle);
  out << "<div class=\"layout\">\n";
  write_contents(out, data, ids);
  out << "<main>\n";
  write_list_section(out, ids.summary, "Summary", "headline", data.summary);
  write_comparisons(out, ids.compare, data.comparisons);
  write_tables(out, ids, data.tables);
  write_figures(out, ids, data.figures, report_dir);
  write_list_section(out, ids.notes, "Notes and caveats", "notes", data.notes);
  write_hardware(out, ids.hardware, data.hardware);
  write_configuration(out, ids.config, data.config_json);
  out << "</main>\n</div>\n";
  write_footer(out);
  return out.str();
}

void write_report_html(const ReportData& data, const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  write_file_atomically(path, render_report_html(data, parent.string()));
}

std::string render_markdown_summary(const ReportData& data) {
  std::ostringstream out;
  out << "# " << (data.title.empty() ? std::string("Experiment report") : data.title) << "\n\n";
  if (!data.subtitle.empty()) out << data.subtitle << "\n\n";
  if (!data.summary.empty()) {
    out << "## Summary\n\n";
    for (const std::string& line : data.summary) out << "- " << line << "\n";
    out << "\n";
  }
  if (!data.comparisons.empty()) {
    out << "## The seed's conclusions and ours\n\n";
    std::vector<std::vector<std::string>> rows;
    for (const Comparison& c : data.comparisons) rows.push_back({c.topic, c.seed, c.ours});
    markdown_table(out, {"Topic", "The seed", "This run"}, rows);
    out << "\n";
  }
  for (const Table& t : data.tables) {
    out << "## " << (t.title.empty() ? t.id : t.title) << "\n\n";
    if (!t.caption.empty()) out << t.caption << "\n\n";
    markdown_table(out, t.header, t.rows);
    out << "\n";
  }
  if (!data.figures.empty()) {
    out << "## Figures\n\n";
    for (const Figure& f : data.figures) {
      out << "- " << (f.title.empty() ? f.id : f.title) << ": "
          << (f.svg_path.empty() ? f.png_path : f.svg_path) << "\n";
    }
    out << "\n";
  }
  if (!data.notes.empty()) {
    out << "## Notes and caveats\n\n";
    for (const std::string& note : data.notes) out << "- " << note << "\n";
    out << "\n";
  }
  return out.str();
}

}  // namespace ember::report
