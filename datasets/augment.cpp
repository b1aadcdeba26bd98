// The square's symmetries as pixel gathers, and the per-sample Philox draw (datasets/augment.h).
// Tested in tests/test_datasets_augment.cpp.
#include "datasets/augment.h"

#include <cstring>

#include "tensor/error.h"
#include "tensor/philox.h"

namespace ember::datasets {

int draw_symmetry(uint64_t seed, int64_t epoch, int64_t position) {
  EMBER_CHECK(epoch >= 0 && position >= 0, "draw_symmetry: epoch ", epoch, " and position ",
              position, " must be >= 0");
  // The high counter word carries the epoch with the top bit set, so these blocks never meet
  // the ones randperm draws for the shuffle (their high word is 0). 8 divides 2^32: uniform.
  const philox::Block block = philox::philox4x32_10(
      static_cast<uint64_t>(position), static_cast<uint64_t>(epoch) | (1ull << 63), seed);
  return static_cast<int>(block.v[0] & 7u);
}

Tensor apply_symmetry(const Tensor& image, int symmetry) {
  check_defined(image, "apply_symmetry", "image");
  EMBER_CHECK(symmetry >= 0 && symmetry < kSymmetries, "apply_symmetry: symmetry ", symmetry,
              " is not in [0, 8)");
  EMBER_CHECK(image.device().is_cpu() && (image.dim() == 3 || image.dim() == 4),
              "apply_symmetry: expected a CPU image [H, W, C] or batch [N, H, W, C], got ",
              image.describe());
  const int64_t h = image.size(-3), w = image.size(-2), c = image.size(-1);
  EMBER_CHECK(h == w, "apply_symmetry: rotations by 90 degrees need a square image, got ",
              image.describe());
  const Tensor src = image.contiguous();
  Tensor out = empty(src.shape(), {src.dtype(), Device::cpu()});
  const int64_t n = image.dim() == 4 ? image.size(0) : 1;
  const size_t pixel_bytes = static_cast<size_t>(c) * dtype_size(src.dtype());
  const auto* in = static_cast<const char*>(src.raw_data());
  auto* dst = static_cast<char*>(out.raw_data());
  for (int64_t i = 0; i < n; ++i) {
    const char* in_image = in + i * h * w * pixel_bytes;
    char* out_image = dst + i * h * w * pixel_bytes;
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        int64_t sy, sx;
        symmetry_source(symmetry, h, y, x, sy, sx);
        std::memcpy(out_image + (y * w + x) * pixel_bytes, in_image + (sy * w + sx) * pixel_bytes,
                    pixel_bytes);
      }
  }
  return out;
}

}  // namespace ember::datasets
