// The experiment's first unit, in-process: finds and checks the data, decodes it once into the
// shared cache (so the units after it, perhaps several at once, only read the cache), and
// writes units/prepare/data_summary.json: the class names, per-class counts of the original
// and the unbalanced training set, val and test; and units/prepare/real/<Class>/*.png, a few
// real test images per class for the report's real-next-to-generated grids.
// Tested by tests/apps/experiment_smoke.sh.
#pragma once

#include <filesystem>

#include "experiment/config.h"

namespace ember::experiment {

inline constexpr int kRealSamplesPerClass = 8;

void prepare_data(const ExperimentConfig& config, const std::filesystem::path& out);

}  // namespace ember::experiment
