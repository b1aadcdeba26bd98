// gan_quality: measures a trained conditional generator against the real EuroSAT test images,
// per class (issue 6, "Quality, measured"):
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
// apps/flags/quality_flags.h).
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

int run(const QualityFlags& f) {
  // --out first, before any work: a file name in a folder that exists (or can be made) and
  // can take files (the lock file proves it), not taken by another process.
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
  log.line(std::string("== gan_quality: ") + kNotFid);
  const std::vector<std::string>& names = datasets::eurosat_class_names();
  std::vector<int64_t> labels;
  for (const std::string& c : f.classes)
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == c) labels.push_back(static_cast<int64_t>(i));

  // Real data: the test split (and validation for the baseline) of the chosen classes.
  const fs::path root = datasets::resolve_data_root(f.data);
  datasets::EuroSat data = datasets::load_eurosat(
      root, {.threads = static_cast<int>(f.threads), .use_cache = !f.no_cache,
             .cache_dir = f.cache_dir});
  if (f.fraction < 1.0) {
    data.val = datasets::stratified_fraction(data.val, f.fraction, 1);
    data.test = datasets::stratified_fraction(data.test, f.fraction, 2);
  }
  const datasets::ImageSet test = only_classes(data.test, labels);
  log.line(format("real test images of the chosen classes: %lld (%s)",
                  static_cast<long long>(test.size()), root.c_str()));

  // Networks.
  models::LoadedGenerator loaded = models::load_generator_file(f.generator);
  models::ConditionalGenerator& generator = *loaded.generator;
  EMBER_CHECK(generator.config().num_classes == static_cast<int64_t>(names.size()) &&
                  generator.config().image_size == datasets::kEuroSatSize &&
                  generator.config().out_channels == datasets::kEuroSatChannels,
              "generator ", f.generator, " does not make 64x64x3 images of the 10 EuroSAT classes");
  generator.to(f.device);
  LoadedClassifier features = load_classifier_file(f.features);
  features.model->to(f.device);
  LoadedClassifier acceptance_holder;
  models::EfficientNet* acceptance = features.model.get();
  if (f.acceptance != f.features) {
    acceptance_holder = load_classifier_file(f.acceptance);
    acceptance_holder.model->to(f.device);
    acceptance = acceptance_holder.model.get();
  }

  const FeatureMatrix test_features = efficientnet_features(*features.model, test, f.batch, f.device);
  const std::vector<int64_t> test_labels = test.labels.to_vector<int64_t>();
  FeatureMatrix val_features;
  std::vector<int64_t> val_labels;
  if (f.baseline) {
    const datasets::ImageSet val = only_classes(data.val, labels);
    val_features = efficientnet_features(*features.model, val, f.batch, f.device);
    val_labels = val.labels.to_vector<int64_t>();
  }

  nlohmann::json per_class = nlohmann::json::object();
  std::string table = format("%-22s %6s %8s %12s %12s %12s %6s%s\n", "class", "gen", "accept",
                             "frechet", "div gen", "div real", "real",
                             f.baseline ? "  frechet val-test" : "");
  for (int64_t label : labels) {
    const std::string& name = names[label];
    // Generated in batches of --batch (candidates 0 .. count-1, as generate draws them).
    FeatureMatrix gen_features;
    int64_t accepted = 0;
    for (int64_t first = 0; first < f.count; first += f.batch) {
      const int64_t n = std::min(f.batch, f.count - first);
      const datasets::ImageSet set =
          generate_class_images(generator, f.seed, label, first, n, names, f.device);
      const AcceptanceRates a = acceptance_rates(*acceptance, set, f.batch, f.device);
      accepted += a.accepted[label];
      const FeatureMatrix batch = efficientnet_features(*features.model, set, f.batch, f.device);
      gen_features.dim = batch.dim;
      gen_features.rows += batch.rows;
      gen_features.values.insert(gen_features.values.end(), batch.values.begin(),
                                 batch.values.end());
    }
    const double rate = static_cast<double>(accepted) / static_cast<double>(f.count);
    const FeatureMatrix real = test_features.select(test_labels, label);
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
      const FeatureMatrix val = val_features.select(val_labels, label);
      EMBER_CHECK(val.rows >= 2, "class ", name, " has ", val.rows,
                  " real validation images; the baseline needs at least 2");
      const double b = frechet_distance(feature_stats(val), real_stats);
      j["frechet_real_val_vs_test"] = b;
      j["real_val_images"] = val.rows;
      baseline_text = format("  %16.5g", b);
    }
    per_class[name] = j;
    table += format("%-22s %6lld %8.4f %12.5g %12.5g %12.5g %6lld%s\n", name.c_str(),
                    static_cast<long long>(f.count), rate, frechet, div_gen, div_real,
                    static_cast<long long>(real.rows), baseline_text.c_str());
  }
  log.line("per class (accept: acceptance rate; frechet: generated vs real test; div: mean "
           "pairwise feature distance)\n" + table);
  log.line(kNotFid);
  const nlohmann::json result = {{"format", "ember.gan_quality.v1"},
                                 {"note", kNotFid},
                                 {"generator", f.generator},
                                 {"features_classifier", f.features},
                                 {"acceptance_classifier", f.acceptance},
                                 {"feature_dim", test_features.dim},
                                 {"count", f.count},
                                 {"seed", f.seed},
                                 {"fraction", f.fraction},
                                 {"classes", per_class}};
  write_file_atomically(f.out, result.dump(2) + "\n");
  log.line("wrote " + f.out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_cli_main("gan_quality", "(gan_quality --help lists the flags)", [&] {
    const QualityFlags f = parse_quality_flags(cli_args(argc, argv));
    if (f.help) return print_usage(kQualityUsage);
    check_quality_inputs(f);
    require_visible_device("--device", f.device);
    return run(f);
  });
}
