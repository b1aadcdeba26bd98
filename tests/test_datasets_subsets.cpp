// datasets/derived.h subsets: stratified_fraction (per-class counts worked out by hand, seeded
// and reproducible, order kept) and first_per_class (the first N of each class in order).
#include <gtest/gtest.h>

#include "datasets/derived.h"
#include "datasets/eurosat.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

// Labels given; image i's pixels all equal i; files "f<i>".
datasets::ImageSet labelled_set(const std::vector<int64_t>& labels, int64_t classes) {
  const int64_t n = static_cast<int64_t>(labels.size());
  std::vector<uint8_t> pixels;
  datasets::ImageSet set;
  for (int64_t i = 0; i < n; ++i) {
    pixels.insert(pixels.end(), 3, static_cast<uint8_t>(i));
    set.files.push_back("f" + std::to_string(i));
  }
  set.images = from_vector(pixels, {n, 1, 1, 3}, {DType::UInt8});
  set.labels = from_vector(labels, {n}, {DType::Int64});
  for (int64_t c = 0; c < classes; ++c) set.class_names.push_back("c" + std::to_string(c));
  return set;
}

TEST(DatasetSubsets, StratifiedFractionCounts) {
  // Class 0: 10 images, class 1: 3, class 2: 1.
  std::vector<int64_t> labels;
  for (int i = 0; i < 10; ++i) labels.push_back(0);
  for (int i = 0; i < 3; ++i) labels.push_back(1);
  labels.push_back(2);
  const auto set = labelled_set(labels, 3);
  const auto sub = datasets::stratified_fraction(set, 0.25, 7);
  // round(2.5) = 3, round(0.75) = 1, round(0.25) = 0 -> at least 1.
  EXPECT_EQ(datasets::class_counts(sub), (std::vector<int64_t>{3, 1, 1}));
  // The input's order is kept, and the same seed picks the same images.
  EXPECT_TRUE(std::is_sorted(sub.files.begin(), sub.files.end(), [](const auto& a, const auto& b) {
    return std::stoi(a.substr(1)) < std::stoi(b.substr(1));
  }));
  EXPECT_EQ(datasets::stratified_fraction(set, 0.25, 7).files, sub.files);
  EXPECT_NE(datasets::stratified_fraction(set, 0.5, 8).files,
            datasets::stratified_fraction(set, 0.5, 9).files);
  EXPECT_EQ(datasets::stratified_fraction(set, 1.0, 7).files, set.files);
  // Pixels travel with their rows.
  const auto px = sub.images.to_vector<uint8_t>();
  for (int64_t i = 0; i < sub.size(); ++i)
    EXPECT_EQ("f" + std::to_string(px[i * 3]), sub.files[i]);
  EXPECT_ERROR_MENTIONS(datasets::stratified_fraction(set, 0.0, 1), "outside (0, 1]");
}

TEST(DatasetSubsets, FirstPerClass) {
  const auto set = labelled_set({0, 1, 0, 1, 0, 2}, 3);
  EXPECT_EQ(datasets::first_per_class(set, 2).files,
            (std::vector<std::string>{"f0", "f1", "f2", "f3", "f5"}));
  EXPECT_EQ(datasets::first_per_class(set, 0).size(), 0);
  EXPECT_ERROR_MENTIONS(datasets::first_per_class(set, -1), "negative");
}

}  // namespace
}  // namespace ember
