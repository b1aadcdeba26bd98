// Generated images as a training-set extension: a folder in the EuroSAT class layout
// (<dir>/<Class>/<name>.png, or .jpg) read into an ImageSet, and the concatenation of two sets
// (e.g. the unbalanced training set + the generated minority images the classifier accepted).
// Tested in tests/test_datasets_generated.cpp.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "datasets/eurosat.h"
#include "datasets/image_set.h"

namespace ember::datasets {

// Every .png/.jpg/.jpeg under dir/<Class>/ for the class folders present (a generator may write
// only some classes), in class order then file-name order, labelled by its folder. A folder that
// is not a class name, a class folder with no images, or no images at all is an error naming it;
// each image must decode as height x width x channels (errors name the file). files[i] is
// "<Class>/<name>".
ImageSet load_generated(const std::filesystem::path& dir, const std::vector<std::string>& class_names,
                        const LoadOptions& options = {}, int height = kEuroSatSize,
                        int width = kEuroSatSize, int channels = kEuroSatChannels);

// The rows of a followed by the rows of b. Both must have the same image shape and class names.
ImageSet concat_sets(const ImageSet& a, const ImageSet& b);

}  // namespace ember::datasets
