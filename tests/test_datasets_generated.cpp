// Generated images as a training-set extension (datasets/generated.h): a folder of PNGs in the
// class layout read into an ImageSet with the right labels and exact pixels (PNG is lossless),
// the errors for a bad folder, and concatenation with a training set.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "datasets/generated.h"
#include "datasets/image_io.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using namespace datasets;
namespace fs = std::filesystem;

const std::vector<std::string> kClasses = {"Alpha", "Beta", "Gamma"};

// A fresh folder under the system temp dir, removed with the object.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag)
      : path(fs::temp_directory_path() /
             ("ember-gen-" + tag + "-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
              "-" + std::to_string(reinterpret_cast<uintptr_t>(this)))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// 4x4x3 pixels all equal to `value` (distinct per image, so rows can be identified).
std::vector<uint8_t> pixels(int value) { return std::vector<uint8_t>(4 * 4 * 3, static_cast<uint8_t>(value)); }

void write(const fs::path& dir, const std::string& cls, const std::string& name, int value) {
  fs::create_directories(dir / cls);
  write_png(dir / cls / name, pixels(value), 4, 4, 3);
}

LoadOptions no_cache() {
  LoadOptions o;
  o.use_cache = false;
  o.verbose = false;
  return o;
}

TEST(DatasetsGenerated, ReadsClassFoldersInClassThenNameOrder) {
  TempDir dir("ok");
  write(dir.path, "Gamma", "b.png", 30);
  write(dir.path, "Gamma", "a.png", 20);
  write(dir.path, "Alpha", "z.png", 10);  // Beta absent: a generator may write some classes only
  const ImageSet set = load_generated(dir.path, kClasses, no_cache(), 4, 4, 3);
  ASSERT_EQ(set.size(), 3);
  EXPECT_EQ(set.images.shape(), (Shape{3, 4, 4, 3}));
  EXPECT_EQ(set.labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 2, 2}));
  EXPECT_EQ(set.files, (std::vector<std::string>{"Alpha/z.png", "Gamma/a.png", "Gamma/b.png"}));
  EXPECT_EQ(set.class_names, kClasses);
  const std::vector<uint8_t> px = set.images.to_vector<uint8_t>();
  EXPECT_EQ(px[0], 10);
  EXPECT_EQ(px[48], 20);
  EXPECT_EQ(px[96 + 47], 30);
}

TEST(DatasetsGenerated, BadFoldersAndImagesAreNamed) {
  TempDir dir("bad");
  EXPECT_ERROR_MENTIONS(load_generated(dir.path / "missing", kClasses, no_cache(), 4, 4, 3),
                        "is not a folder");
  EXPECT_ERROR_MENTIONS(load_generated(dir.path, kClasses, no_cache(), 4, 4, 3),
                        "has no class folders");
  fs::create_directories(dir.path / "Beta");
  EXPECT_ERROR_MENTIONS(load_generated(dir.path, kClasses, no_cache(), 4, 4, 3),
                        "holds no .png or .jpg files");
  write(dir.path, "Beta", "x.png", 5);
  write(dir.path, "Delta", "y.png", 6);
  EXPECT_ERROR_MENTIONS(load_generated(dir.path, kClasses, no_cache(), 4, 4, 3),
                        "Delta is not a class name");
  fs::remove_all(dir.path / "Delta");
  write_png(dir.path / "Beta" / "small.png", std::vector<uint8_t>(2 * 2 * 3, 1), 2, 2, 3);
  EXPECT_ERROR_MENTIONS(load_generated(dir.path, kClasses, no_cache(), 4, 4, 3), "small.png");
}

TEST(DatasetsGenerated, ConcatAppendsRowsLabelsAndFiles) {
  TempDir a_dir("a"), b_dir("b");
  write(a_dir.path, "Alpha", "1.png", 1);
  write(a_dir.path, "Beta", "2.png", 2);
  write(b_dir.path, "Gamma", "3.png", 3);
  const ImageSet a = load_generated(a_dir.path, kClasses, no_cache(), 4, 4, 3);
  const ImageSet b = load_generated(b_dir.path, kClasses, no_cache(), 4, 4, 3);
  const ImageSet both = concat_sets(a, b);
  ASSERT_EQ(both.size(), 3);
  EXPECT_EQ(both.labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(both.files, (std::vector<std::string>{"Alpha/1.png", "Beta/2.png", "Gamma/3.png"}));
  const std::vector<uint8_t> px = both.images.to_vector<uint8_t>();
  EXPECT_EQ(px[0], 1);
  EXPECT_EQ(px[48], 2);
  EXPECT_EQ(px[96], 3);
  ImageSet other = b;
  other.class_names = {"X", "Y", "Z"};
  EXPECT_ERROR_MENTIONS(concat_sets(a, other), "different classes");
}

}  // namespace
}  // namespace ember
