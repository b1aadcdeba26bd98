// The data a report is made of, shared by the figure writers (report/figures.h), the HTML page
// and Markdown summary (report/html_report.h) and the experiment runner that fills it
// (apps/experiment.cpp). Plain structs: no behaviour lives here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ember::report {

// One bar of a bar chart: a group's mean with its interval and the individual runs as dots.
struct BarGroup {
  std::string label;
  double mean = 0.0;
  double low = 0.0;    // lower end of the error bar (e.g. the 95% interval); == mean: none
  double high = 0.0;   // upper end
  std::vector<double> points;  // each run's value, drawn as dots over the bar
};

// One series of a line or grouped-bar chart.
struct Series {
  std::string name;
  std::vector<double> x;  // line charts only (same length as y)
  std::vector<double> y;
};

// An RGB image, 8 bits per channel, row-major HWC.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // width * height * 3
};

// One row of a "real next to generated" grid: a class with some real and some generated images.
struct SampleRow {
  std::string label;
  std::vector<RgbImage> real;
  std::vector<RgbImage> generated;
};

// A figure written to disk as <stem>.svg and <stem>.png.
struct Figure {
  std::string id;       // unique, used as the HTML anchor
  std::string title;
  std::string caption;  // one or two sentences under the figure
  std::string svg_path; // absolute or relative to the report's folder
  std::string png_path;
};

// A table: header plus rows of already formatted cells.
struct Table {
  std::string id;
  std::string title;
  std::string caption;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// One line of "the seed's conclusions side by side with ours".
struct Comparison {
  std::string topic;  // e.g. "class weights"
  std::string seed;   // what the blog post concluded
  std::string ours;   // what this run found
};

struct ReportData {
  std::string title;
  std::string subtitle;             // e.g. preset and date
  std::vector<std::string> summary; // a few sentences: the headline findings
  std::vector<Comparison> comparisons;
  std::vector<Table> tables;
  std::vector<Figure> figures;
  std::string config_json;          // the resolved configuration, pretty-printed
  std::vector<std::pair<std::string, std::string>> hardware;  // e.g. {"CPU", "2 cores ..."}
  std::vector<std::string> notes;   // caveats (few runs, subset, no GPU...)
};

}  // namespace ember::report
