// Checks of an image file's bytes before stb_image decodes them (see image_checks.h). Tested in
// tests/test_datasets_eurosat.cpp; fuzzed by fuzz/fuzz_image.cpp.
#include "datasets/image_checks.h"

#include <cstdint>
#include <cstring>

#include "tensor/error.h"

namespace ember::datasets {

bool is_jpeg(const std::vector<unsigned char>& b) {
  return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

bool is_png(const std::vector<unsigned char>& b) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return b.size() >= 8 && std::memcmp(b.data(), sig, 8) == 0;
}

namespace {

// Inside entropy-coded JPEG data every 0xFF byte is followed by 0x00 or a restart marker, so
// FF D9 near the end can only be the end-of-image marker; some writers pad after it.
bool jpeg_has_end_marker(const std::vector<unsigned char>& b) {
  const size_t stop = b.size() > 1024 ? b.size() - 1024 : 0;
  for (size_t i = b.size() - 1; i > stop; --i)
    if (b[i - 1] == 0xFF && b[i] == 0xD9) return true;
  return false;
}

// Past the file's end stb reads zeros: so do we.
unsigned byte_at(const std::vector<unsigned char>& b, size_t i) { return i < b.size() ? b[i] : 0; }

// Walks a JPEG's marker segments as stb does and checks its Huffman tables (DHT) and the scans
// (SOS) that use them. Segments with a length are skipped by it; entropy-coded data byte by
// byte (there a 0xFF is always followed by 0x00 or a restart marker, so no false marker is
// seen). Two problems are found:
// - a table whose 16 code counts add up to more than the 256 symbols it has room for: Debian
//   12's stb_image writes past stbi__huffman's size[257] and values[256] into the decoder's
//   other fields, pointers included, and if a later table replaces the bad one the image even
//   decodes (upstream checks since v2.28). stb reads table after table while the segment's
//   length lasts, 17 + n bytes each, so a table cut by the file's end still counts;
// - a scan that uses a table no earlier DHT defined: stb's decoder state is malloc'ed and a
//   table is only ever filled by a DHT, so the scan decodes with whatever the memory held and
//   indexes its arrays with garbage. A baseline scan needs each component's DC and AC table; a
//   progressive one its DC table in a first DC scan (Ss = 0, Ah = 0), its AC table in any AC
//   scan (Ss > 0), and none in a DC refinement.
std::string jpeg_problem(const std::vector<unsigned char>& b) {
  bool defined[2][4] = {};  // [class: 0 DC, 1 AC][table id]
  bool progressive = false;
  size_t i = 2;  // after SOI
  while (i + 1 < b.size()) {
    const unsigned marker = b[i + 1];
    if (b[i] != 0xFF || marker == 0xFF || marker == 0x00 || marker == 0x01 ||
        (marker >= 0xD0 && marker <= 0xD8)) {
      // Entropy-coded data, a fill byte, a stuffed zero, TEM, RSTn or SOI: no length follows.
      i += b[i] == 0xFF && marker != 0xFF ? 2 : 1;
      continue;
    }
    if (marker == 0xD9 || i + 3 >= b.size()) break;  // EOI, or no length left to read
    const size_t length = byte_at(b, i + 2) << 8 | byte_at(b, i + 3);  // counts its own 2 bytes
    if (marker == 0xC2) progressive = true;
    if (marker == 0xC4) {
      ptrdiff_t left = static_cast<ptrdiff_t>(length) - 2;
      for (size_t t = i + 4; left > 0 && t < b.size();) {
        size_t codes = 0;
        for (size_t k = 1; k <= 16; ++k) codes += byte_at(b, t + k);
        if (codes > 256)
          return detail::concat("corrupt: a JPEG Huffman table lists ", codes,
                                " codes (at most 256)");
        const unsigned table_class = b[t] >> 4, id = b[t] & 15;
        if (table_class <= 1 && id <= 3) defined[table_class][id] = true;  // stb refuses others
        t += 17 + codes;
        left -= static_cast<ptrdiff_t>(17 + codes);
      }
    }
    if (marker == 0xDA) {
      // Ns, then (component id, DC table << 4 | AC table) per component, then Ss, Se, Ah/Al.
      const unsigned components = byte_at(b, i + 4);
      const size_t tail = i + 5 + 2 * components;
      const unsigned ss = byte_at(b, tail), ah = byte_at(b, tail + 2) >> 4;
      const bool needs_dc = !progressive || (ss == 0 && ah == 0);
      const bool needs_ac = !progressive || ss > 0;
      for (unsigned k = 0; k < components && k < 4; ++k) {
        const unsigned tables = byte_at(b, i + 6 + 2 * k), dc = tables >> 4, ac = tables & 15;
        if (dc > 3 || ac > 3) continue;  // stb refuses the scan itself
        if (needs_dc && !defined[0][dc])
          return detail::concat("corrupt: a JPEG scan uses the DC Huffman table ", dc,
                                ", which no DHT segment before it defines");
        if (needs_ac && !defined[1][ac])
          return detail::concat("corrupt: a JPEG scan uses the AC Huffman table ", ac,
                                ", which no DHT segment before it defines");
      }
    }
    i += 2 + length;
  }
  return "";
}

// Walks a PNG's chunks (length, type, data, CRC): each must lie inside the file, and the last
// must be IEND. stb allocates what an IDAT chunk claims before it reads the data.
std::string png_problem(const std::vector<unsigned char>& b) {
  size_t i = 8;  // after the signature
  while (i + 8 <= b.size()) {
    const uint64_t length = static_cast<uint64_t>(b[i]) << 24 | b[i + 1] << 16 | b[i + 2] << 8 |
                            b[i + 3];
    const std::string type(reinterpret_cast<const char*>(&b[i + 4]), 4);
    const uint64_t left = b.size() - i - 8;  // after the length and type
    if (length + 4 > left)                   // the data and its CRC
      return detail::concat("corrupt: its chunk '", type, "' claims ", length,
                            " bytes, more than the ", left < 4 ? 0 : left - 4,
                            " left in the file");
    if (type == "IEND") return "";
    i += 12 + length;
  }
  return detail::concat("truncated: the PNG has no IEND chunk (", b.size(), " bytes)");
}

}  // namespace

std::string image_bytes_problem(const std::vector<unsigned char>& bytes) {
  if (bytes.empty()) return "empty (0 bytes)";
  if (is_jpeg(bytes)) {
    if (!jpeg_has_end_marker(bytes))
      return detail::concat("truncated: the JPEG has no end-of-image marker (", bytes.size(),
                            " bytes)");
    return jpeg_problem(bytes);
  }
  if (is_png(bytes)) return png_problem(bytes);
  return "corrupt: not a JPEG or PNG (bad signature)";
}

}  // namespace ember::datasets
