// Single-image decode/encode on top of stb (see image_io.h). stb_image is lenient with damaged
// JPEGs (a truncated scan decodes to grey rows without an error), so the file is read whole
// first and a JPEG must end with its EOI marker; everything else stb rejects is reported with
// stbi_failure_reason(). Before stb sees a file, image_checks.h checks its bytes (Debian 12's
// stb_image reads and writes outside its arrays on some hostile JPEGs, and allocates what a PNG
// chunk claims). Images are encoded into memory and written through the checked atomic writer
// (tensor/atomic_file.h). Tested in tests/test_datasets_eurosat.cpp and
// tests/test_file_safety.cpp (a full disk).
#include "datasets/image_io.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "datasets/image_checks.h"
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

// Every check that comes before decoding, on the file's bytes; returns what the header claims.
ImageHeader checked_header(const std::vector<unsigned char>& bytes, const std::string& name) {
  const std::string problem = image_bytes_problem(bytes);
  EMBER_CHECK(problem.empty(), "image ", name, " is ", problem);
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
