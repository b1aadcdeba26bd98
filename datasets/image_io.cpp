// Single-image decode/encode on top of stb (see image_io.h). stb_image is lenient with damaged
// JPEGs (a truncated scan decodes to grey rows without an error), so the file is read whole
// first and a JPEG must end with its EOI marker; everything else stb rejects is reported with
// stbi_failure_reason(). A JPEG's Huffman tables are checked before stb sees them: Debian 12's
// stb_image writes past its arrays on a table of more than 256 codes (see
// jpeg_huffman_table_overflow). Images are encoded into memory and written through the checked
// atomic writer (tensor/atomic_file.h). Tested in tests/test_datasets_eurosat.cpp and
// tests/test_file_safety.cpp (a full disk).
#include "datasets/image_io.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace ember::datasets {
namespace {

std::vector<unsigned char> read_whole_file(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr)
    EMBER_FAIL("cannot open image ", path.string(), ": ", std::strerror(errno));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(file, &std::fclose);
  std::vector<unsigned char> bytes;
  unsigned char chunk[16384];
  size_t got = 0;
  while ((got = std::fread(chunk, 1, sizeof chunk, file)) > 0) bytes.insert(bytes.end(), chunk, chunk + got);
  if (std::ferror(file)) EMBER_FAIL("cannot read image ", path.string(), ": ", std::strerror(errno));
  return bytes;
}

// stb's *_to_func writers hand the encoded file over in pieces: collected in memory, so the
// file itself goes through the checked writer (stb's own file writers ignore fwrite errors and
// report success on a full disk).
void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                             static_cast<size_t>(size));
}

bool is_jpeg(const std::vector<unsigned char>& b) {
  return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}
bool is_png(const std::vector<unsigned char>& b) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return b.size() >= 8 && std::memcmp(b.data(), sig, 8) == 0;
}

// Inside entropy-coded JPEG data every 0xFF byte is followed by 0x00 or a restart marker, so
// FF D9 near the end can only be the end-of-image marker; some writers pad after it.
bool jpeg_has_end_marker(const std::vector<unsigned char>& b) {
  const size_t stop = b.size() > 1024 ? b.size() - 1024 : 0;
  for (size_t i = b.size() - 1; i > stop; --i)
    if (b[i - 1] == 0xFF && b[i] == 0xD9) return true;
  return false;
}

// Whether every Huffman table (DHT segment) of the JPEG holds at most 256 codes, the number of
// symbols a table has room for. Debian 12's stb_image (git 2022-09-08) does not check: a table
// whose 16 code counts add up to more, say 17 + 255, makes it write past stbi__huffman's size[257]
// and values[256] into the decoder's other fields, pointers included, and if a later table
// replaces this one the image even decodes (found by fuzz/fuzz_image.cpp; upstream checks since
// v2.28). Walks the marker segments as stb does: each DHT's tables in order (class/id byte, 16
// counts, the symbols), skipping other segments by their length and entropy-coded data byte by
// byte (there a 0xFF is always followed by 0x00 or a restart marker, so no false DHT is seen).
// Returns the largest count found above 256, or 0 when every table fits.
size_t jpeg_huffman_table_overflow(const std::vector<unsigned char>& b) {
  size_t i = 2;  // after SOI
  while (i + 1 < b.size()) {
    const unsigned char marker = b[i + 1];
    if (b[i] != 0xFF || marker == 0xFF || marker == 0x00 || marker == 0x01 ||
        (marker >= 0xD0 && marker <= 0xD8)) {
      // Entropy-coded data, a fill byte, a stuffed zero, TEM, RSTn or SOI: no length follows.
      i += b[i] == 0xFF && marker != 0xFF ? 2 : 1;
      continue;
    }
    if (marker == 0xD9 || i + 3 >= b.size()) break;  // EOI, or no length left to read
    const size_t length = static_cast<size_t>(b[i + 2]) << 8 | b[i + 3];  // counts its 2 bytes
    if (marker == 0xC4) {
      // stb reads table after table while the segment's length lasts, 17 + n bytes each.
      ptrdiff_t left = static_cast<ptrdiff_t>(length) - 2;
      // Past the file's end stb reads zeros, so a table cut by the end still counts its codes.
      for (size_t t = i + 4; left > 0 && t < b.size();) {
        size_t codes = 0;
        for (size_t k = 1; k <= 16 && t + k < b.size(); ++k) codes += b[t + k];
        if (codes > 256) return codes;
        t += 17 + codes;
        left -= static_cast<ptrdiff_t>(17 + codes);
      }
    }
    i += 2 + length;
  }
  return 0;
}

// Every check that comes before decoding, on the file's bytes; returns what the header claims.
ImageHeader checked_header(const std::vector<unsigned char>& bytes, const std::string& name) {
  EMBER_CHECK(!bytes.empty(), "image ", name, " is empty (0 bytes)");
  EMBER_CHECK(is_jpeg(bytes) || is_png(bytes), "image ", name,
              " is corrupt: not a JPEG or PNG (bad signature)");
  EMBER_CHECK(!is_jpeg(bytes) || jpeg_has_end_marker(bytes), "image ", name,
              " is truncated: the JPEG has no end-of-image marker (", bytes.size(), " bytes)");
  if (is_jpeg(bytes)) {
    const size_t codes = jpeg_huffman_table_overflow(bytes);
    EMBER_CHECK(codes == 0, "image ", name, " is corrupt: a JPEG Huffman table lists ", codes,
                " codes (at most 256)");
  }
  ImageHeader header;
  EMBER_CHECK(stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &header.width,
                                    &header.height, &header.channels),
              "image ", name, " is corrupt: ", stbi_failure_reason());
  return header;
}

}  // namespace

ImageHeader read_image_header(const std::filesystem::path& path) {
  return checked_header(read_whole_file(path), path.string());
}

void decode_image_into(const std::filesystem::path& path, int height, int width, int channels,
                       uint8_t* out) {
  const std::vector<unsigned char> bytes = read_whole_file(path);
  const std::string name = path.string();
  const ImageHeader header = checked_header(bytes, name);
  EMBER_CHECK(header.width == width && header.height == height, "image ", name, " is ",
              header.width, "x", header.height, ", expected ", width, "x", height);
  EMBER_CHECK(header.channels == channels, "image ", name, " has ", header.channels,
              " channel(s), expected ", channels);
  int w = 0, h = 0, c = 0;
  std::unique_ptr<unsigned char, void (*)(void*)> pixels(
      stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c, channels),
      &stbi_image_free);
  EMBER_CHECK(pixels != nullptr, "image ", name, " is corrupt: ", stbi_failure_reason());
  std::memcpy(out, pixels.get(), static_cast<size_t>(height) * width * channels);
}

std::vector<uint8_t> decode_image(const std::filesystem::path& path, int height, int width,
                                  int channels) {
  std::vector<uint8_t> out(static_cast<size_t>(height) * width * channels);
  decode_image_into(path, height, width, channels, out.data());
  return out;
}

void write_jpeg(const std::filesystem::path& path, const std::vector<uint8_t>& pixels, int height,
                int width, int channels, int quality) {
  EMBER_CHECK(pixels.size() == static_cast<size_t>(height) * width * channels, "write_jpeg ",
              path.string(), ": ", pixels.size(), " bytes for a ", height, "x", width, "x",
              channels, " image");
  std::string bytes;
  EMBER_CHECK(stbi_write_jpg_to_func(&append_bytes, &bytes, width, height, channels,
                                     pixels.data(), quality) && !bytes.empty(),
              "cannot encode JPEG ", path.string());
  write_file_atomically(path.string(), bytes, {.sync = false});
}

void write_png(const std::filesystem::path& path, const std::vector<uint8_t>& pixels, int height,
               int width, int channels) {
  EMBER_CHECK(pixels.size() == static_cast<size_t>(height) * width * channels, "write_png ",
              path.string(), ": ", pixels.size(), " bytes for a ", height, "x", width, "x",
              channels, " image");
  std::string bytes;
  EMBER_CHECK(stbi_write_png_to_func(&append_bytes, &bytes, width, height, channels,
                                     pixels.data(), width * channels) && !bytes.empty(),
              "cannot encode PNG ", path.string());
  write_file_atomically(path.string(), bytes, {.sync = false});
}

}  // namespace ember::datasets
