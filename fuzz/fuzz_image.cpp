// libFuzzer target: the image loader, datasets::decode_image (datasets/image_io.h: JPEG and PNG
// through stb_image, with ember's own signature, end-marker, Huffman-table, size and channel
// checks). The loader takes a path, so each input is written to an in-memory file
// (fuzz_common.h). Expected outcomes: pixels, or ember::Error.
//
// decode_image only decodes an image of the size it expects (EuroSAT's 64x64x3 in the apps), so
// the target first asks ember's own read_image_header (the same checks, then stb's header
// reader) and, when the header is readable and at most 512x512 pixels, asks for that size and
// channel count; otherwise for 64x64x3, which must then be refused before any pixel buffer is
// allocated. Either way the whole decoder runs, and stb never sees bytes ember has not checked.
// Seeds: corpus/image/; dictionary: image.dict. Run: scripts/fuzz.sh image.
#include <cstdint>

#include "datasets/image_io.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ember::fuzz::MemoryFile file;
  const std::string& path = file.write(data, size);
  int width = 64, height = 64, channels = 3;
  ember::fuzz::expect_only_ember_errors([&] {
    const ember::datasets::ImageHeader header = ember::datasets::read_image_header(path);
    if (header.width > 0 && header.height > 0 &&
        static_cast<int64_t>(header.width) * header.height <= 512 * 512 &&
        header.channels >= 1 && header.channels <= 4) {
      width = header.width;
      height = header.height;
      channels = header.channels;
    }
  });
  ember::fuzz::expect_only_ember_errors([&] {
    const std::vector<uint8_t> pixels = ember::datasets::decode_image(path, height, width, channels);
    ember::fuzz::check_invariant(pixels.size() == static_cast<size_t>(height) * width * channels,
                                 "decode_image returned a buffer of the wrong size");
  });
  return 0;
}
