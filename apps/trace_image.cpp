// trace_image: draws a profiler trace (EMBER_PROFILE's JSON, docs/profiler.md) as a timeline
// picture, <out_stem>.png and <out_stem>.svg (report/trace_timeline.h).
//
//   trace_image TRACE.json OUT_STEM [TITLE]
#include <fstream>
#include <iostream>

#include "report/trace_timeline.h"
#include "tensor/error.h"

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::cerr << "usage: trace_image TRACE.json OUT_STEM [TITLE]\n"
                 "  draws the trace as OUT_STEM.png and OUT_STEM.svg\n";
    return 2;
  }
  try {
    std::ifstream in(argv[1]);
    EMBER_CHECK(in, "trace_image: cannot open ", argv[1]);
    nlohmann::json trace;
    try {
      trace = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      EMBER_FAIL("trace_image: ", argv[1], " is not JSON: ", e.what());
    }
    const auto files = ember::report::draw_trace_timeline(trace, argv[2], argc == 4 ? argv[3] : argv[1]);
    std::cout << "wrote " << files.png << " and " << files.svg << "\n";
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
