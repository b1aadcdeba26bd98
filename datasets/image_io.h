// Reading and writing single image files (stb_image / stb_image_write, compiled in
// stb_impl.cpp): file -> uint8 HWC pixels with the expected size checked, and the writers the
// tests and the data tools use. Tested in tests/test_datasets_eurosat.cpp and
// tests/test_file_safety.cpp.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ember::datasets {

// What an image file's header claims, after the same checks decode_image makes before decoding
// (a JPEG's markers and Huffman tables included), so a reader of unknown files can ask for the
// size first. Throws ember::Error naming the file as decode_image does.
struct ImageHeader {
  int height = 0;
  int width = 0;
  int channels = 0;
};
ImageHeader read_image_header(const std::filesystem::path& path);

// Decodes the JPEG or PNG at `path` into out[height * width * channels] (row-major HWC).
// Throws ember::Error naming the file and the problem: cannot be opened or read (with the
// system's reason), empty, not a JPEG/PNG, corrupt, truncated (a JPEG without its end-of-image
// marker), a size other than height x width, or a channel count other than `channels`.
void decode_image_into(const std::filesystem::path& path, int height, int width, int channels,
                       uint8_t* out);
std::vector<uint8_t> decode_image(const std::filesystem::path& path, int height, int width,
                                  int channels);

// Writers for HWC uint8 pixels (pixels.size() == height * width * channels). The file appears
// whole or not at all (temporary file + rename, not fsynced: images come in hundreds), and any
// failure, a full disk included, throws an ember::Error naming the file.
void write_jpeg(const std::filesystem::path& path, const std::vector<uint8_t>& pixels, int height,
                int width, int channels, int quality = 95);
void write_png(const std::filesystem::path& path, const std::vector<uint8_t>& pixels, int height,
               int width, int channels);

}  // namespace ember::datasets
