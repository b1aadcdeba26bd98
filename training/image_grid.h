// Sample grids for the GAN: a batch of images in [-1, 1] tiled into rows x cols with a gap of
// background pixels between them, converted to uint8 and written as PNG (datasets/image_io.h).
// The conversion is the inverse of the trainer's uint8 -> [-1, 1] scaling:
//   u8 = round((clamp(x, -1, 1) + 1) * 127.5).
// Tested in tests/test_image_grid.cpp (placement, gap, rounding, errors, a PNG round trip).
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "tensor/tensor.h"

namespace ember::training {

struct ImageGrid {
  std::vector<uint8_t> pixels;  // HWC, height x width x 3
  int64_t height = 0, width = 0;
};

// images: float [N, H, W, 3] (any device; copied to the host), N <= rows * cols, filled row by
// row (cells past N stay background). gap pixels of `background` between cells, none around.
ImageGrid tile_images(const Tensor& images, int64_t rows, int64_t cols, int64_t gap = 2,
                      uint8_t background = 255);

// tile_images, then a PNG at `path` (its folder must exist).
void write_image_grid(const std::filesystem::path& path, const Tensor& images, int64_t rows,
                      int64_t cols, int64_t gap = 2);

}  // namespace ember::training
