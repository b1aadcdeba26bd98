// The square's symmetries (datasets/augment.h) and the loader's use of them: each of the 8
// transforms exact on a 3x3 image, the per-sample draw reproducible and uniform, augmented
// batches equal to the transform of their source images, and no change when augmentation is off.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "datasets/augment.h"
#include "datasets/loader.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using datasets::apply_symmetry;
using datasets::draw_symmetry;

// 3x3 image, 2 channels: channel 0 holds v = 1..9 row by row, channel 1 holds 10 * v.
Tensor tiny_image() {
  std::vector<uint8_t> values;
  for (int v = 1; v <= 9; ++v) {
    values.push_back(static_cast<uint8_t>(v));
    values.push_back(static_cast<uint8_t>(10 * v));
  }
  return from_vector(values, {3, 3, 2}, {DType::UInt8});
}

std::vector<int> channel(const Tensor& image, int c) {
  const std::vector<uint8_t> all = image.to_vector<uint8_t>();
  std::vector<int> out;
  for (size_t i = c; i < all.size(); i += 2) out.push_back(all[i]);
  return out;
}

TEST(DatasetsAugment, EachSymmetryIsExact) {
  // numpy: rot90(a, k) for s = k, rot90(fliplr(a), k) for s = 4 + k.
  const std::vector<std::vector<int>> expected = {
      {1, 2, 3, 4, 5, 6, 7, 8, 9},  // identity
      {3, 6, 9, 2, 5, 8, 1, 4, 7},  // rot90 (counter-clockwise)
      {9, 8, 7, 6, 5, 4, 3, 2, 1},  // rot180
      {7, 4, 1, 8, 5, 2, 9, 6, 3},  // rot270
      {3, 2, 1, 6, 5, 4, 9, 8, 7},  // horizontal flip
      {1, 4, 7, 2, 5, 8, 3, 6, 9},  // transpose
      {7, 8, 9, 4, 5, 6, 1, 2, 3},  // vertical flip
      {9, 6, 3, 8, 5, 2, 7, 4, 1},  // anti-transpose
  };
  const Tensor image = tiny_image();
  for (int s = 0; s < datasets::kSymmetries; ++s) {
    const Tensor out = apply_symmetry(image, s);
    EXPECT_EQ(out.shape(), image.shape());
    EXPECT_EQ(channel(out, 0), expected[s]) << "symmetry " << s;
    std::vector<int> tens;
    for (int v : expected[s]) tens.push_back(10 * v);
    EXPECT_EQ(channel(out, 1), tens) << "symmetry " << s << ": channels must move together";
  }
  // A batch [N, H, W, C] transforms each image the same way.
  const Tensor batch = apply_symmetry(tiny_image().reshape({1, 3, 3, 2}), 5);
  EXPECT_EQ(channel(batch, 0), expected[5]);
}

TEST(DatasetsAugment, BadArgumentsAreErrors) {
  EXPECT_ERROR_MENTIONS(apply_symmetry(tiny_image(), 8), "not in [0, 8)");
  EXPECT_ERROR_MENTIONS(apply_symmetry(zeros({2, 3, 1}, {DType::UInt8}), 1), "square");
}

TEST(DatasetsAugment, DrawsAreReproducibleAndUniform) {
  std::vector<int> counts(8, 0);
  for (int64_t p = 0; p < 8000; ++p) {
    const int s = draw_symmetry(11, 3, p);
    ASSERT_GE(s, 0);
    ASSERT_LT(s, 8);
    EXPECT_EQ(s, draw_symmetry(11, 3, p));
    ++counts[s];
  }
  // 1000 expected each; the standard deviation is ~30, so 850..1150 fails only for a bias.
  for (int s = 0; s < 8; ++s) EXPECT_NEAR(counts[s], 1000, 150) << "symmetry " << s;
  int differ_by_epoch = 0, differ_by_seed = 0;
  for (int64_t p = 0; p < 100; ++p) {
    differ_by_epoch += draw_symmetry(11, 3, p) != draw_symmetry(11, 4, p);
    differ_by_seed += draw_symmetry(11, 3, p) != draw_symmetry(12, 3, p);
  }
  EXPECT_GT(differ_by_epoch, 50);
  EXPECT_GT(differ_by_seed, 50);
}

// n images 4x4x3 whose pixels differ at every position (so every non-identity symmetry
// changes them) and between images: value = (7 i + 5 y + 2 x + ch) mod 256.
datasets::ImageSet asymmetric_set(int64_t n) {
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t y = 0; y < 4; ++y)
      for (int64_t x = 0; x < 4; ++x)
        for (int64_t ch = 0; ch < 3; ++ch)
          pixels.push_back(static_cast<uint8_t>((7 * i + 5 * y + 2 * x + ch) % 256));
    labels.push_back(i % 2);
  }
  datasets::ImageSet set;
  set.images = from_vector(pixels, {n, 4, 4, 3}, {DType::UInt8});
  set.labels = from_vector(labels, {n}, {DType::Int64});
  set.class_names = {"a", "b"};
  return set;
}

TEST(DatasetsAugment, LoaderAppliesTheDrawnSymmetryPerSample) {
  const datasets::ImageSet set = asymmetric_set(40);
  const uint64_t seed = 5;
  for (bool augment : {false, true}) {
    datasets::Loader loader(set, {.batch_size = 16, .seed = seed,
                                  .augment = {.flips_and_rotations = augment}});
    datasets::Loader again(set, {.batch_size = 16, .seed = seed,
                                 .augment = {.flips_and_rotations = augment}});
    int transformed = 0;
    for (int64_t epoch : {0, 1}) {
      loader.start_epoch(epoch);
      again.start_epoch(epoch);
      int64_t position = 0;
      while (auto batch = loader.next()) {
        auto twin = again.next();
        ASSERT_TRUE(twin);
        EXPECT_TRUE(allclose(batch->images, twin->images, 0, 0)) << "not reproducible";
        for (int64_t b = 0; b < batch->images.size(0); ++b, ++position) {
          const int s = augment ? draw_symmetry(seed, epoch, position) : 0;
          transformed += s != 0;
          const Tensor source = set.images.slice(0, batch->indices[b], batch->indices[b] + 1);
          const Tensor expected = apply_symmetry(source, s).to(DType::Float32);
          const Tensor actual = batch->images.slice(0, b, b + 1);
          EXPECT_TRUE(allclose(actual, expected, 0, 0))
              << "epoch " << epoch << " position " << position << " symmetry " << s;
        }
      }
      EXPECT_EQ(position, 40);
    }
    if (augment) {
      EXPECT_GT(transformed, 50) << "augmentation on, yet few images changed";
    }
  }
}

TEST(DatasetsAugment, IsOffByDefault) {
  const datasets::LoaderOptions options;
  EXPECT_FALSE(options.augment.flips_and_rotations);
  const datasets::ImageSet set = asymmetric_set(8);
  datasets::Loader loader(set, {.batch_size = 8, .shuffle = false});
  loader.start_epoch(3);
  const auto batch = loader.next();
  ASSERT_TRUE(batch);
  EXPECT_TRUE(allclose(batch->images, set.images.to(DType::Float32), 0, 0));
}

TEST(DatasetsAugment, NonSquareImagesAreRejectedWhenAugmenting) {
  datasets::ImageSet set;
  set.images = zeros({2, 4, 3, 3}, {DType::UInt8});
  set.labels = zeros({2}, {DType::Int64});
  EXPECT_ERROR_MENTIONS(datasets::Loader(set, {.augment = {.flips_and_rotations = true}}),
                        "square");
  datasets::Loader plain(set, {});  // fine without augmentation
}

}  // namespace
}  // namespace ember
