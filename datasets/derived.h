// The training sets the experiment derives from the EuroSAT split: the "unbalanced" set (Highway
// and River cut to 15%), the audit list of its files, per-class counts and 'balanced' class
// weights. Tested in tests/test_datasets_eurosat.cpp (arithmetic, reproducibility, real data).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "datasets/image_set.h"

namespace ember::datasets {

// Images per class: counts[c] = number of labels equal to c (size class_names.size()).
std::vector<int64_t> class_counts(const ImageSet& set);

// The unbalanced training set: each class in `reduced` keeps round(keep_percent% of its count)
// images (round half up, integer arithmetic: (count * keep_percent + 50) / 100), chosen by a
// Philox RandomGenerator(seed) permutation drawn class by class in label order; every other image is
// kept. The result keeps the input's order. An unknown class name is an error.
ImageSet make_unbalanced(const ImageSet& train, uint64_t seed,
                         const std::vector<std::string>& reduced = {"Highway", "River"},
                         int keep_percent = 15);

// A stratified subset for quick runs: round(fraction * count) images of each class (at least
// one of a class that has any), chosen as make_unbalanced chooses, in the input's order.
ImageSet stratified_fraction(const ImageSet& set, double fraction, uint64_t seed);

// The first `limit` images of each class in the set's order (e.g. the first 100 generated
// images kept per class for augmented100).
ImageSet first_per_class(const ImageSet& set, int64_t limit);

// Writes set.files, one per line, to `path` (for auditing which images a run trained on);
// atomically, and a failed write is an error naming the file.
void write_file_list(const std::filesystem::path& path, const ImageSet& set);

// 'balanced' class weights (scikit-learn's formula): n_samples / (n_classes * count_c).
// A class with no images is an error naming it (its weight would be infinite).
std::vector<double> balanced_class_weights(const ImageSet& set);

}  // namespace ember::datasets
