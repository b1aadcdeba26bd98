// gan_quality: measures a trained conditional generator against the real EuroSAT test images,
// per class (docs/gan.md, "Measuring quality"):
//   acceptance   the share of --count generated images of class c that the acceptance
//                classifier (the filter generate uses) predicts as c
//   frechet      the Fréchet distance between generated and real test images of class c on
//                the 1408-d pooled features of the features classifier (an EfficientNetB2
//                trained on the full real data). NOT the Inception-based FID: the numbers are
//                not comparable with published FIDs, only with each other.
//   diversity    mean pairwise Euclidean feature distance within the generated images of c,
//                and within the real test images of c (a collapsed generator scores far below
//                the real figure)
//   baseline     (--baseline) the same Fréchet distance between real validation and real test
//                images of c: what two real samples of that size score
//
//   ./build/apps/gan_quality --generator runs/gan-full/generator.safetensors
//       --features-classifier runs/full-1/best.safetensors
//       --acceptance-classifier runs/unbalanced-1/best.safetensors --out quality.json
//
// The generated images are candidates 0 .. count-1 of each class with --seed: the same noise
// generate starts from, all of them (not only the accepted ones). Formulas: docs/gan.md
// ("Measuring quality"); code: gan/quality.h. Prints a table, writes --out (JSON,
// never overwritten). Exit status: 0 done, 1 an error, 2 a bad flag (the flags and their rules:
// apps/flags/quality_flags.h), 77 no EuroSAT data found (apps/data_root.h).
// --out is checked, and locked (<out>.lock), before any work starts.
// Tested by tests/apps/generate_smoke.sh (CTest GenerateApps).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/derived.h"
#include "datasets/eurosat.h"
#include "gan/networks_io.h"
#include "tensor/atomic_file.h"
#include "apps/data_root.h"
#include "apps/flags/cli.h"
#include "gan/quality.h"
#include "training/output_lock.h"
#include "apps/flags/quality_flags.h"
#include "training/run_log.h"

using namespace ember;
using namespace ember::training;
namespace fs = std::filesystem;

namespace {

const char* kNotFid =
    "Frechet distance on the 1408-d pooled features of an EfficientNetB2 trained on EuroSAT; "
    "NOT the Inception-v3 FID, so not comparable with published FIDs";

// The rows of `set` whose class is in `labels`.
datasets::ImageSet only_classes(const datasets::ImageSet& set, const std::vector<int64_t>& labels) {
  std::vector<int64_t> rows;
  const std::vector<int64_t> y = set.labels.to_vector<int64_t>();
  for (size_t i = 0; i < y.size(); ++i)
    for (int64_t l : labels)
      if (y[i] == l) rows.push_back(static_cast<int64_t>(i));
  return datasets::select_images(set, rows);
}

// The labels of --classes, in the order given.
std::vector<int64_t> class_labels(const QualityFlags& f) {
  const std::vector<std::string>& names = datasets::eurosat_class_names();
  std::vector<int64_t> labels;
  for (const std::string& c : f.classes)
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == c) labels.push_back(static_cast<int64_t>(i));
  return labels;
}

// The real test split (and validation, for the baseline) cut to --fraction.
datasets::EuroSat load_real_data(const QualityFlags& f) {
  const fs::path root = apps::find_data_root(f.data);
  datasets::EuroSat data = datasets::load_eurosat(
      root, {.threads = static_cast<int>(f.threads), .use_cache = !f.no_cache,
             .cache_dir = f.cache_dir});
  if (f.fraction < 1.0) {
    data.val = datasets::stratified_fraction(data.val, f.fraction, 1);
    data.test = datasets::stratified_fraction(data.test, f.fraction, 2);
  }
  return data;
}

// The generator and the two classifiers on the device; `acceptance` is `features` when both
// flags name one file.
struct Networks {
  models::LoadedGenerator loaded;
  LoadedClassifier features, acceptance_holder;
  models::EfficientNet* acceptance = nullptr;
  models::ConditionalGenerator& generator() { return *loaded.generator; }
};

Networks load_networks(const QualityFlags& f) {
  Networks n;
  n.loaded = models::load_generator_file(f.generator);
  const models::GeneratorConfig& config = n.generator().config();
  EMBER_CHECK(config.num_classes == static_cast<int64_t>(datasets::eurosat_class_names().size()) &&
                  config.image_size == datasets::kEuroSatSize &&
                  config.out_channels == datasets::kEuroSatChannels,
              "generator ", f.generator, " does not make 64x64x3 images of the 10 EuroSAT classes");
  n.generator().to(f.device);
  n.features = load_classifier_file(f.features);
  n.features.model->to(f.device);
  n.acceptance = n.features.model.get();
  if (f.acceptance != f.features) {
    n.acceptance_holder = load_classifier_file(f.acceptance);
    n.acceptance_holder.model->to(f.device);
    n.acceptance = n.acceptance_holder.model.get();
  }
  return n;
}

// Features of generated candidates 0 .. count-1 of `label` (in batches of --batch, as
// generate draws them), and how many of them the acceptance classifier accepts.
FeatureMatrix generated_features(const QualityFlags& f, Networks& n, int64_t label,
                                 int64_t& accepted) {
  FeatureMatrix out;
  accepted = 0;
  for (int64_t first = 0; first < f.count; first += f.batch) {
    const int64_t size = std::min(f.batch, f.count - first);
    const datasets::ImageSet set = generate_class_images(
        n.generator(), f.seed, label, first, size, datasets::eurosat_class_names(), f.device);
    accepted += acceptance_rates(*n.acceptance, set, f.batch, f.device).accepted[label];
    const FeatureMatrix batch = efficientnet_features(*n.features.model, set, f.batch, f.device);
    out.dim = batch.dim;
    out.rows += batch.rows;
    out.values.insert(out.values.end(), batch.values.begin(), batch.values.end());
  }
  return out;
}

// Real-image features of the chosen classes, with their labels.
struct LabelledFeatures {
  FeatureMatrix features;
  std::vector<int64_t> labels;
};

LabelledFeatures real_features(const QualityFlags& f, Networks& n, const datasets::ImageSet& set) {
  return {efficientnet_features(*n.features.model, set, f.batch, f.device),
          set.labels.to_vector<int64_t>()};
}

// One class's measures: its JSON entry and its row of the printed table.
std::pair<nlohmann::json, std::string> measure_class(const QualityFlags& f, Networks& n,
                                                     int64_t label, const LabelledFeatures& test,
                                                     const LabelledFeatures& val) {
  const std::string& name = datasets::eurosat_class_names()[label];
  int64_t accepted = 0;
  const FeatureMatrix gen_features = generated_features(f, n, label, accepted);
  const double rate = static_cast<double>(accepted) / static_cast<double>(f.count);
  const FeatureMatrix real = test.features.select(test.labels, label);
  EMBER_CHECK(real.rows >= 2, "class ", name, " has ", real.rows,
              " real test images; the Fréchet distance needs at least 2 (raise --fraction)");
  const FeatureStats real_stats = feature_stats(real);
  const double frechet = frechet_distance(feature_stats(gen_features), real_stats);
  const double div_gen = mean_pairwise_distance(gen_features);
  const double div_real = mean_pairwise_distance(real);
  nlohmann::json j = {{"generated", f.count}, {"accepted", accepted}, {"acceptance_rate", rate},
                      {"frechet", frechet}, {"diversity_generated", div_gen},
                      {"diversity_real", div_real}, {"real_test_images", real.rows}};
  std::string baseline_text;
  if (f.baseline) {
    const FeatureMatrix v = val.features.select(val.labels, label);
    EMBER_CHECK(v.rows >= 2, "class ", name, " has ", v.rows,
                " real validation images; the baseline needs at least 2");
    const double b = frechet_distance(feature_stats(v), real_stats);
    j["frechet_real_val_vs_test"] = b;
    j["real_val_images"] = v.rows;
    baseline_text = format("  %16.5g", b);
  }
  const std::string row =
      format("%-22s %6lld %8.4f %12.5g %12.5g %12.5g %6lld%s\n", name.c_str(),
             static_cast<long long>(f.count), rate, frechet, div_gen, div_real,
             static_cast<long long>(real.rows), baseline_text.c_str());
  return {j, row};
}

// The measures of every chosen class: the table logged, the JSON written to --out.
int measure(const QualityFlags& f, RunLog& log) {
  log.line(std::string("== gan_quality: ") + kNotFid);
  const std::vector<int64_t> labels = class_labels(f);
  const datasets::EuroSat data = load_real_data(f);
  const datasets::ImageSet test = only_classes(data.test, labels);
  log.line(format("real test images of the chosen classes: %lld (%s)",
                  static_cast<long long>(test.size()), data.root.c_str()));
  Networks n = load_networks(f);
  const LabelledFeatures test_features = real_features(f, n, test);
  const LabelledFeatures val_features =
      f.baseline ? real_features(f, n, only_classes(data.val, labels)) : LabelledFeatures{};

  nlohmann::json per_class = nlohmann::json::object();
  std::string table = format("%-22s %6s %8s %12s %12s %12s %6s%s\n", "class", "gen", "accept",
                             "frechet", "div gen", "div real", "real",
                             f.baseline ? "  frechet val-test" : "");
  for (int64_t label : labels) {
    auto [j, row] = measure_class(f, n, label, test_features, val_features);
    per_class[datasets::eurosat_class_names()[label]] = j;
    table += row;
  }
  log.line("per class (accept: acceptance rate; frechet: generated vs real test; div: mean "
           "pairwise feature distance)\n" + table);
  log.line(kNotFid);
  const nlohmann::json result = {{"format", "ember.gan_quality.v1"},
                                 {"note", kNotFid},
                                 {"generator", f.generator},
                                 {"features_classifier", f.features},
                                 {"acceptance_classifier", f.acceptance},
                                 {"feature_dim", test_features.features.dim},
                                 {"count", f.count},
                                 {"seed", f.seed},
                                 {"fraction", f.fraction},
                                 {"classes", per_class}};
  write_file_atomically(f.out, result.dump(2) + "\n");
  log.line("wrote " + f.out);
  return 0;
}

// Claims --out before any work (a file name in a folder that exists or can be made, can take
// files, as the lock file proves, and is not taken by another process), then measures.
int run(const QualityFlags& f) {
  const fs::path parent = fs::path(f.out).parent_path();
  EMBER_CHECK(fs::path(f.out).has_filename(), "--out ", f.out,
              " names a folder: give the result file's name, e.g. ", f.out, "quality.json");
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  EMBER_CHECK(!ec, "--out ", f.out, ": cannot make the folder ", parent.string(), ": ",
              ec.message());
  const OutputLock lock(lock_file_for(f.out), "the result file " + f.out);
  EMBER_CHECK(!fs::exists(f.out), "the result file ", f.out,
              " already exists and is never overwritten: choose another --out or remove it");
  RunLog log;
  for (const std::string& leftover : remove_leftover_temp_files(parent.empty() ? "." : parent.string()))
    log.line("removed " + leftover + ", left by a killed writer");
  return measure(f, log);
}

}  // namespace

int main(int argc, char** argv) {
  return run_cli_main("gan_quality", "(gan_quality --help lists the flags)", [&] {
    const QualityFlags f = parse_quality_flags(cli_args(argc, argv));
    if (f.help) return print_usage(kQualityUsage);
    check_quality_inputs(f);
    require_visible_device("--device", f.device);
    return apps::exit_when_data_missing("gan_quality", [&] { return run(f); });
  });
}
