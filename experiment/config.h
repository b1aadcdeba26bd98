// The experiment's configuration: presets (quick, full) as JSON, a config file merged over the
// preset (RFC 7386 merge patch), then "--set key.path=value" overrides, then a typed, checked
// view (ExperimentConfig). The resolved JSON is what the runner saves beside the results, so a
// run can be repeated from it (`experiment --config <out>/config.json`).
//
//   quick: every stage on this 2-core machine in about ten minutes: a small stratified fraction
//          of the data, one epoch, small GAN networks, a few generated images per class.
//   full:  the seed's protocol for a GPU: whole splits, 3 seeds, the default GAN, 500 kept
//          images per class, augmented100/300/500.
//
// Unknown keys are errors that name the key (a typo must not silently fall back to a default).
// The training units' math and CUDA graphs: exact_fp32, precision and cuda_graphs add their app
// flags only when set (false, "", true add nothing). exact_fp32 is precision fp32 by its older
// name, so with precision tf32 or bf16 it is refused. The math changes results and is part of
// the experiment's identity (a rerun with another is refused, experiment/runner.h); cuda_graphs
// is not (replays equal eager steps bit for bit), so a stopped run may continue with graphs off.
// Tested in tests/test_experiment_config.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ember::experiment {

struct ClassifierSettings {
  int64_t epochs = 10;
  int64_t batch = 32;
  std::string optimizer = "adam";
  double lr = 1e-3;
  std::string schedule = "constant";
  bool augment = false;
  int64_t patience = 0;
  std::string weights;                 // pretrained backbone (models/convert/convert_*.py); empty: scratch
  std::string freeze = "0";
  double bn_momentum = 0.99;           // Keras's; the quick preset's 0.9 settles in few steps
  std::vector<std::string> extra_args; // passed to train_classifier as they are
};

struct GanSettings {
  std::string loss = "wgan-gp";
  int64_t epochs = 20;
  int64_t batch = 64;
  double fraction = 1.0;
  int64_t seed = 0;
  std::vector<int64_t> g_widths;       // empty: the app's defaults (docs/gan.md's networks)
  int64_t g_base_channels = 0;         // 0: the app's default
  std::vector<int64_t> d_widths;
  double ema = 0.0;
  std::vector<std::string> extra_args; // passed to train_gan as they are
};

struct GenerationSettings {
  std::vector<std::string> classes = {"Highway", "River"};
  int64_t batch = 64;
  int64_t max_batches = 1000;
  bool allow_short = false;            // keep what was reached instead of failing (quick runs)
  int64_t seed = 0;
};

struct QualitySettings {
  bool enabled = true;
  int64_t count = 500;                 // generated images per class for the Fréchet distance
};

struct ExperimentConfig {
  std::string preset;
  std::string data;                    // EuroSAT root; empty: the usual search (datasets/eurosat.h)
  std::string out;
  std::string device = "cpu";          // cpu | cuda
  int64_t gpus = 0;                    // cuda: how many GPUs to spread runs over; 0: all visible
  bool exact_fp32 = false;             // cuda: the training units without TF32 (--exact-fp32)
  std::string precision;               // the training units' --precision fp32|tf32|bf16; empty:
                                       // theirs (tf32 on cuda). With exact_fp32 only fp32 agrees
  bool cuda_graphs = true;             // false: the training units get --cuda-graphs off
  std::vector<int64_t> seeds = {0, 1, 2};
  int64_t subset_seed = 0;             // which Highway/River images the unbalanced set keeps
  double fraction = 1.0;               // stratified fraction of train/val/test for classifiers
  ClassifierSettings classifier;
  bool group_weighted = true;          // unbalanced + class weights (the seed's extra group)
  bool group_oversampled = false;      // extra: unbalanced + class-balanced sampling, no GAN
  bool group_balanced_gan = false;     // extra: augmented sets from a GAN trained on the
                                       // unbalanced set with class-balanced sampling
  GanSettings gan;
  GenerationSettings generation;
  std::vector<int64_t> augmented_sizes = {100, 300, 500};
  std::string augmented_per = "class"; // class | total (build_augmented --per)
  QualitySettings quality;
  bool browser_check = true;           // render report.html in headless Chromium
};

// The preset's JSON ("quick" or "full"); an unknown name is an error listing both.
nlohmann::json preset_json(const std::string& name);

// Applies "a.b.c=value" to `config`: value is parsed as JSON when it parses (numbers, true,
// [1,2], "text"), else taken as a string. The key must already exist (error naming it).
void apply_override(nlohmann::json& config, const std::string& assignment);

// The typed view; every key is checked (unknown keys, wrong types, bad values name the key).
ExperimentConfig parse_config(const nlohmann::json& config);

// preset -> merged file (if any) -> overrides, checked. `file` may be empty.
nlohmann::json resolve_config(const std::string& preset, const std::string& file,
                              const std::vector<std::string>& overrides);

}  // namespace ember::experiment
