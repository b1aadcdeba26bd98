// Sample grids (see image_grid.h).
#include "training/image_grid.h"

#include <algorithm>
#include <cmath>

#include "datasets/image_io.h"
#include "tensor/error.h"

namespace ember::training {

ImageGrid tile_images(const Tensor& images, int64_t rows, int64_t cols, int64_t gap,
                      uint8_t background) {
  EMBER_CHECK(images.defined() && images.dim() == 4 && images.size(3) == 3,
              "tile_images: expected images [N, H, W, 3], got ",
              images.defined() ? images.describe() : std::string("an undefined tensor"));
  EMBER_CHECK(rows > 0 && cols > 0 && gap >= 0, "tile_images: bad layout ", rows, " x ", cols,
              " with gap ", gap);
  const int64_t n = images.size(0), h = images.size(1), w = images.size(2);
  EMBER_CHECK(n <= rows * cols, "tile_images: ", n, " images do not fit ", rows, " x ", cols);
  // to_vector copies to the host, contiguous, as float: the grid works on any dtype/device.
  const std::vector<float> x = images.detach().to_vector<float>();
  ImageGrid grid;
  grid.height = rows * h + (rows - 1) * gap;
  grid.width = cols * w + (cols - 1) * gap;
  grid.pixels.assign(static_cast<size_t>(grid.height * grid.width * 3), background);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t top = (i / cols) * (h + gap), left = (i % cols) * (w + gap);
    for (int64_t r = 0; r < h; ++r) {
      for (int64_t c = 0; c < w; ++c) {
        for (int64_t k = 0; k < 3; ++k) {
          float v = x[static_cast<size_t>(((i * h + r) * w + c) * 3 + k)];
          // NaN would make the cast undefined: show it as black rather than crash the run.
          if (!std::isfinite(v)) v = std::isnan(v) ? -1.0f : (v > 0 ? 1.0f : -1.0f);
          const float u = std::round((std::clamp(v, -1.0f, 1.0f) + 1.0f) * 127.5f);
          grid.pixels[static_cast<size_t>(((top + r) * grid.width + left + c) * 3 + k)] =
              static_cast<uint8_t>(u);
        }
      }
    }
  }
  return grid;
}

void write_image_grid(const std::filesystem::path& path, const Tensor& images, int64_t rows,
                      int64_t cols, int64_t gap) {
  const ImageGrid grid = tile_images(images, rows, cols, gap);
  datasets::write_png(path, grid.pixels, static_cast<int>(grid.height),
                      static_cast<int>(grid.width), 3);
}

}  // namespace ember::training
