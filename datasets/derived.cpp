// Derived training sets and class weights (contract in derived.h). Tested in
// tests/test_datasets_eurosat.cpp.
#include "datasets/derived.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "datasets/eurosat.h"
#include "ops/random.h"
#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace ember::datasets {

std::vector<int64_t> class_counts(const ImageSet& set) {
  std::vector<int64_t> counts(set.class_names.size(), 0);
  if (set.size() == 0) return counts;
  const int64_t* labels = set.labels.data<int64_t>();
  for (int64_t i = 0; i < set.size(); ++i) {
    EMBER_CHECK(labels[i] >= 0 && labels[i] < static_cast<int64_t>(counts.size()), "label ",
                labels[i], " of ", set.files[i], " is outside [0, ", counts.size(), ")");
    ++counts[labels[i]];
  }
  return counts;
}

namespace {

// Keeps kept(c, count_c) images of each class c, chosen by a RandomGenerator(seed) permutation drawn
// class by class in label order (classes whose kept == count draw nothing), in the input's order.
ImageSet keep_per_class(const ImageSet& set, uint64_t seed,
                        const std::function<int64_t(size_t, int64_t)>& kept) {
  const int64_t* labels = set.labels.data<int64_t>();
  std::vector<bool> keep(set.size(), true);
  RandomGenerator gen(seed);
  for (size_t c = 0; c < set.class_names.size(); ++c) {
    std::vector<int64_t> members;
    for (int64_t i = 0; i < set.size(); ++i)
      if (labels[i] == static_cast<int64_t>(c)) members.push_back(i);
    const int64_t count = static_cast<int64_t>(members.size());
    const int64_t k = kept(c, count);
    if (count == 0 || k >= count) continue;
    const std::vector<int64_t> perm = randperm(count, gen).to_vector<int64_t>();
    for (int64_t j = k; j < count; ++j) keep[members[perm[j]]] = false;
  }
  std::vector<int64_t> indices;
  for (int64_t i = 0; i < set.size(); ++i)
    if (keep[i]) indices.push_back(i);
  return select_images(set, indices);
}

}  // namespace

ImageSet make_unbalanced(const ImageSet& train, uint64_t seed,
                         const std::vector<std::string>& reduced, int keep_percent) {
  EMBER_CHECK(keep_percent >= 0 && keep_percent <= 100, "make_unbalanced: keep_percent ",
              keep_percent, " is outside [0, 100]");
  std::vector<bool> is_reduced(train.class_names.size(), false);
  for (const std::string& name : reduced) {
    const auto it = std::find(train.class_names.begin(), train.class_names.end(), name);
    EMBER_CHECK(it != train.class_names.end(), "make_unbalanced: unknown class '", name, "'");
    is_reduced[it - train.class_names.begin()] = true;
  }
  return keep_per_class(train, seed, [&](size_t c, int64_t count) {
    return is_reduced[c] ? (count * keep_percent + 50) / 100 : count;
  });
}

ImageSet stratified_fraction(const ImageSet& set, double fraction, uint64_t seed) {
  EMBER_CHECK(fraction > 0 && fraction <= 1, "stratified_fraction: fraction ", fraction,
              " is outside (0, 1]");
  return keep_per_class(set, seed, [&](size_t, int64_t count) {
    return std::max<int64_t>(1, static_cast<int64_t>(std::floor(count * fraction + 0.5)));
  });
}

ImageSet first_per_class(const ImageSet& set, int64_t limit) {
  EMBER_CHECK(limit >= 0, "first_per_class: negative limit ", limit);
  const int64_t* labels = set.labels.data<int64_t>();
  std::vector<int64_t> taken(set.class_names.size(), 0), indices;
  for (int64_t i = 0; i < set.size(); ++i)
    if (taken[labels[i]]++ < limit) indices.push_back(i);
  return select_images(set, indices);
}

void write_file_list(const std::filesystem::path& path, const ImageSet& set) {
  std::string text;
  for (const std::string& f : set.files) text += f + '\n';
  write_file_atomically(path.string(), text);
}

std::vector<double> balanced_class_weights(const ImageSet& set) {
  const std::vector<int64_t> counts = class_counts(set);
  std::vector<double> weights(counts.size());
  for (size_t c = 0; c < counts.size(); ++c) {
    EMBER_CHECK(counts[c] > 0, "balanced_class_weights: class '", set.class_names[c],
                "' has no images");
    weights[c] = static_cast<double>(set.size()) / (static_cast<double>(counts.size()) * counts[c]);
  }
  return weights;
}

}  // namespace ember::datasets
