// The prepare unit (experiment/prepare.h).
#include "experiment/prepare.h"

#include <nlohmann/json.hpp>

#include "datasets/derived.h"
#include "datasets/eurosat.h"
#include "datasets/image_io.h"
#include "tensor/atomic_file.h"
#include "tensor/error.h"
#include "training/run_log.h"

namespace ember::experiment {

namespace fs = std::filesystem;
using nlohmann::json;

void prepare_data(const ExperimentConfig& config, const fs::path& out) {
  const fs::path dir = out / "units" / "prepare";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path root = datasets::resolve_data_root(config.data);
  datasets::EuroSat data = datasets::load_eurosat(root);
  EMBER_CHECK(!data.fallback_split, "no split lists under ", root.string(),
              "/splits: the experiment uses the standard train/val/test split");
  const datasets::ImageSet unbalanced =
      datasets::make_unbalanced(data.train, static_cast<uint64_t>(config.subset_seed));
  const std::vector<std::string>& names = data.train.class_names;

  // A few real test images per class, the first ones in split order.
  const int64_t image_bytes = data.test.images.numel() / data.test.size();
  const uint8_t* pixels = data.test.images.data<uint8_t>();
  const int64_t* labels = data.test.labels.data<int64_t>();
  std::vector<int> taken(names.size(), 0);
  for (int64_t i = 0; i < data.test.size(); ++i) {
    const int64_t label = labels[i];
    if (taken[label] >= kRealSamplesPerClass) continue;
    const fs::path file = dir / "real" / names[label] /
                          training::format("real_%s_%d.png", names[label].c_str(), taken[label]);
    fs::create_directories(file.parent_path());
    const uint8_t* p = pixels + i * image_bytes;
    datasets::write_png(file, std::vector<uint8_t>(p, p + image_bytes), datasets::kEuroSatSize,
                        datasets::kEuroSatSize, datasets::kEuroSatChannels);
    ++taken[label];
  }

  json summary = {{"format", "ember.experiment.data.v1"},
                  {"root", root.string()},
                  {"classes", names},
                  {"train_original", datasets::class_counts(data.train)},
                  {"train_unbalanced", datasets::class_counts(unbalanced)},
                  {"val", datasets::class_counts(data.val)},
                  {"test", datasets::class_counts(data.test)},
                  {"subset_seed", config.subset_seed},
                  {"fraction", config.fraction},
                  {"cache", data.stats.cache_note}};
  write_file_atomically((dir / "data_summary.json").string(), summary.dump(2) + "\n");
  training::RunLog log(dir / "log.txt");
  log.line(training::format("data %s: train %lld (unbalanced %lld), val %lld, test %lld",
                            root.c_str(), static_cast<long long>(data.train.size()),
                            static_cast<long long>(unbalanced.size()),
                            static_cast<long long>(data.val.size()),
                            static_cast<long long>(data.test.size())));
}

}  // namespace ember::experiment
