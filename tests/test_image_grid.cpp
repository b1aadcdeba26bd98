// training/image_grid.h: placement of each image in the grid, the 2-pixel gap, the [-1, 1] ->
// uint8 rounding (computed by hand), cells left empty, bad inputs named, and a PNG round trip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "datasets/image_io.h"
#include "tests/expect_error.h"
#include "training/image_grid.h"

namespace ember {
namespace {

using training::tile_images;

// Image i is filled with the value v[i] in every pixel and channel.
Tensor constant_images(const std::vector<float>& v, int64_t h, int64_t w) {
  std::vector<float> x;
  for (float value : v)
    for (int64_t k = 0; k < h * w * 3; ++k) x.push_back(value);
  return from_vector(x, {static_cast<int64_t>(v.size()), h, w, 3});
}

TEST(ImageGrid, PlacesImagesRowByRowWithGap) {
  // 3 images of 2x3 in a 2 x 2 grid, gap 2: height 2*2+2 = 6, width 2*3+2 = 8.
  const Tensor images = constant_images({-1.0f, 1.0f, 0.0f}, 2, 3);
  const training::ImageGrid g = tile_images(images, 2, 2, 2, 7);
  ASSERT_EQ(g.height, 6);
  ASSERT_EQ(g.width, 8);
  auto at = [&](int64_t r, int64_t c) { return g.pixels[static_cast<size_t>((r * 8 + c) * 3)]; };
  EXPECT_EQ(at(0, 0), 0);  // image 0: -1 -> 0
  EXPECT_EQ(at(1, 2), 0);
  EXPECT_EQ(at(0, 3), 7);  // gap columns 3, 4
  EXPECT_EQ(at(0, 4), 7);
  EXPECT_EQ(at(0, 5), 255);  // image 1: 1 -> 255
  EXPECT_EQ(at(1, 7), 255);
  EXPECT_EQ(at(2, 0), 7);  // gap rows 2, 3
  EXPECT_EQ(at(3, 7), 7);
  EXPECT_EQ(at(4, 0), 128);  // image 2: 0 -> round(127.5) = 128
  EXPECT_EQ(at(5, 2), 128);
  EXPECT_EQ(at(4, 5), 7);  // the fourth cell stays background
}

TEST(ImageGrid, RoundsAndClampsByHand) {
  // (x + 1) * 127.5: -0.5 -> 63.75 -> 64; 0.5 -> 191.25 -> 191; 2 -> clamped 255; -3 -> 0.
  const Tensor images = constant_images({-0.5f, 0.5f, 2.0f, -3.0f}, 1, 1);
  const training::ImageGrid g = tile_images(images, 1, 4, 0);
  ASSERT_EQ(g.pixels.size(), 12u);
  EXPECT_EQ(g.pixels[0], 64);
  EXPECT_EQ(g.pixels[3], 191);
  EXPECT_EQ(g.pixels[6], 255);
  EXPECT_EQ(g.pixels[9], 0);
}

TEST(ImageGrid, RejectsBadInput) {
  testing::expect_error([] { tile_images(zeros({2, 4, 4, 1}), 1, 2); }, {"[N, H, W, 3]"});
  testing::expect_error(
      [] {
        tile_images(zeros({5, 4, 4, 3}), 2, 2);
      },
      {"5 images do not fit 2 x 2"});
  testing::expect_error([] { tile_images(zeros({1, 4, 4, 3}), 0, 2); }, {"bad layout"});
}

TEST(ImageGrid, WritesAPngThatDecodesBack) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("ember_grid_" + std::to_string(::getpid()) + ".png");
  const Tensor images = constant_images({-1.0f, 1.0f}, 4, 4);
  training::write_image_grid(path, images, 1, 2);
  const std::vector<uint8_t> back = datasets::decode_image(path, 4, 10, 3);
  EXPECT_EQ(back, tile_images(images, 1, 2).pixels);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace ember
