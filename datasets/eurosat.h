// EuroSAT RGB on disk -> ImageSets: the class folders, the standard split lists, the data root
// search, multi-threaded decoding with the optional decoded cache, and the seeded stratified
// 60/20/20 fallback when the lists are absent. Derived sets (unbalanced, class weights) live in
// datasets/derived.h. Tested in tests/test_datasets_eurosat.cpp (tiny JPEGs written by the test;
// the real-data test skips when the data is absent).
//
// Layout under a data root:
//   <root>/EuroSAT_RGB/<Class>/<Class>_<n>.jpg      10 class folders, 64x64 RGB JPEGs
//   <root>/splits/eurosat-{train,val,test}.txt      one file name per line (optional)
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "datasets/image_set.h"

namespace ember::datasets {

constexpr int kEuroSatSize = 64, kEuroSatChannels = 3;

// The 10 classes in label order (alphabetical, as the Hugging Face EuroSAT_RGB dataset).
const std::vector<std::string>& eurosat_class_names();

// The data root: `flag` when not empty, else $EMBER_DATA, else <repo>/data, then
// <repo>/../shared/data, then ./data and ../shared/data from the current directory. A root is a
// folder holding EuroSAT_RGB/. An explicit flag or env value that is not a root is an error;
// when nothing is found the error lists every place tried.
std::filesystem::path resolve_data_root(const std::string& flag);

// The class folders of image_dir in alphabetical order, checked against eurosat_class_names():
// a missing folder, an unexpected one, or a folder without .jpg files is an error naming it.
std::vector<std::string> read_class_folders(const std::filesystem::path& image_dir);

// The names in a split list, one per line; blank lines (and a missing final newline, or a CRLF
// ending) are accepted. Each name must be "<Class>_<n>.jpg" with a known class and exist under
// image_dir/<Class>/; otherwise an error names the list, the line number and the name. A name
// listed twice is an error too. Returns (name, label) pairs in list order.
std::vector<std::pair<std::string, int64_t>> read_split_list(
    const std::filesystem::path& list_path, const std::filesystem::path& image_dir,
    const std::vector<std::string>& class_names);

struct LoadOptions {
  int threads = 0;                     // decoding threads; 0: std::thread::hardware_concurrency
  bool use_cache = true;               // read/write the decoded cache
  std::filesystem::path cache_dir;     // empty: default_cache_dir() (datasets/image_cache.h)
  bool verbose = true;                 // cache and fallback notes to stderr
};

struct LoadStats {
  bool from_cache = false;
  std::string cache_note;              // why the cache was (not) used
  std::filesystem::path cache_file;
  double seconds = 0;
};

// Decodes image_dir/<Class>/<name> for every (name, label) into one ImageSet, in list order
// whatever the thread count. Every image must be kExpected 64x64x3; the first failing file (by
// list position) is reported, with how many others failed.
ImageSet load_images(const std::filesystem::path& image_dir,
                     const std::vector<std::pair<std::string, int64_t>>& items,
                     const std::vector<std::string>& class_names, const LoadOptions& options = {},
                     LoadStats* stats = nullptr, int height = kEuroSatSize,
                     int width = kEuroSatSize, int channels = kEuroSatChannels);

// Rows `indices` of a set, in that order (images copied).
ImageSet select_images(const ImageSet& set, const std::vector<int64_t>& indices);

struct EuroSat {
  std::filesystem::path root;
  ImageSet train, val, test;
  bool fallback_split = false;         // the split lists were absent: seeded 60/20/20
  LoadStats stats;
};

// Loads all of EuroSAT under `root` (one cache for all three splits); train, val and test are
// contiguous row views of one tensor (they share its storage). With split lists, uses
// them (all three must exist, or none); without, splits each class 60/20/20 by `split_seed`.
EuroSat load_eurosat(const std::filesystem::path& root, const LoadOptions& options = {},
                     uint64_t split_seed = 0);

// The seeded stratified split: per class, a random permutation (Philox, seed) of its files in
// numeric order, the first round(60%) to train, the next round(20%) to val, the rest to test.
struct SplitLists {
  std::vector<std::pair<std::string, int64_t>> train, val, test;
};
SplitLists stratified_split(const std::filesystem::path& image_dir,
                            const std::vector<std::string>& class_names, uint64_t seed);

}  // namespace ember::datasets
