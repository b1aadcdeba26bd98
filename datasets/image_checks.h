// What ember checks in an image file's bytes before stb_image sees them (datasets/image_io.cpp
// decodes through stb). stb is lenient with damaged files, and Debian 12's stb_image (libstb-dev,
// git 2022-09-08) reads and writes outside its arrays on some hostile ones; fuzzing the loader
// (fuzz/fuzz_image.cpp) found each case below. docs/sanitizers-and-fuzzing.md has the findings.
#pragma once
#include <string>
#include <vector>

namespace ember::datasets {

bool is_jpeg(const std::vector<unsigned char>& bytes);
bool is_png(const std::vector<unsigned char>& bytes);

// "" when the bytes may go to stb; otherwise what is wrong, worded to follow "image <file> is ":
// - "empty (0 bytes)";
// - "corrupt: not a JPEG or PNG (bad signature)";
// - a JPEG: "truncated: the JPEG has no end-of-image marker (...)" (stb decodes a cut scan to
//   grey rows without an error); "corrupt: a JPEG Huffman table lists N codes (at most 256)"
//   (stb writes past its tables); "corrupt: a JPEG scan uses the AC Huffman table 1, which no
//   DHT segment before it defines" (stb decodes with uninitialised tables and indexes out of
//   bounds);
// - a PNG: "corrupt: its chunk 'IDAT' claims N bytes, more than the M left in the file" (stb
//   allocates what a chunk claims before reading it: gigabytes for a 100-byte file);
//   "truncated: the PNG has no IEND chunk".
std::string image_bytes_problem(const std::vector<unsigned char>& bytes);

}  // namespace ember::datasets
