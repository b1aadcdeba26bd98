// The report page and the Markdown summary: turns a ReportData (report/report_data.h) into one
// self-contained report.html (no external URL: every figure's SVG is inlined with its ids made
// unique per figure, its PNG embedded as a base64 data: URI) and into the Markdown text the
// runner prints at the end. The page carries a small script that, once loaded, checks its own
// figures and writes the verdict into <body data-...> for report/browser_check.h to read.
// Tested in tests/test_report_html.cpp (escaping, base64 against RFC 4648's vectors, id
// prefixing, no external references, Markdown tables) and tests/test_report_browser.cpp
// (the page in headless Chromium).
#pragma once

#include <string>

#include "report/report_data.h"

namespace ember::report {

// The whole page. Figure paths that are relative are taken relative to `report_dir`. A figure
// shows its SVG inline and its PNG in a "PNG" <details>; with no usable SVG (missing,
// unreadable, not SVG) the PNG is shown in its place; with neither, the figure keeps its place
// with a visible notice naming the files (and the in-page check reports it): a report with
// one broken figure is worth more than none, and the browser check still fails it.
std::string render_report_html(const ReportData& data, const std::string& report_dir);

// render_report_html with report_dir = the folder of `path`, written atomically
// (tensor/atomic_file.h): a reader sees the old page or the new one, never a part.
void write_report_html(const ReportData& data, const std::string& path);

// The summary printed at the end of a run: title, headline, seed vs ours, every table, notes,
// as GitHub-flavoured Markdown (cells have "|" escaped and newlines folded).
std::string render_markdown_summary(const ReportData& data);

// Building blocks, public so that they can be tested on their own.

// &, <, >, " and ' as entities: safe in text and in double- or single-quoted attributes.
std::string html_escape(const std::string& text);

// Standard base64 (RFC 4648, alphabet A-Z a-z 0-9 + /, '=' padding).
std::string base64_encode(const std::string& bytes);

// An SVG document made ready to sit inside HTML: everything before "<svg" (XML prolog, doctype,
// comments) dropped, and every id="x" and reference to it (href="#x", xlink:href="#x",
// url(#x)) renamed to "<prefix>-x", so that two cairo figures that both define "glyph0-1" do
// not draw each other's glyphs. Throws when there is no <svg ...> ... </svg>.
std::string inline_svg(const std::string& svg_text, const std::string& prefix);

// `text` reduced to [A-Za-z0-9_-] (others become '-'), never empty: safe as an HTML id.
std::string html_id(const std::string& text);

}  // namespace ember::report
