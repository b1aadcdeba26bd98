// train_classifier's flags: the usage text, the options they make, and every rule about them
// (ranges, choices, combinations), in one place that apps/train_classifier and the experiment's
// check of its units (experiment/validate.h) both call. Parsing touches neither the file
// system nor the GPU, so a command line can be checked before its inputs exist;
// check_classifier_inputs asks about the files that must exist before the run.
// Tested in tests/test_training_app_flags.cpp and tests/apps/train_classifier_smoke.sh.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "training/classifier_trainer.h"

namespace ember::training {

extern const char* const kClassifierUsage;

struct ClassifierFlags {
  std::string data, variant = "unbalanced", generated, cache_dir, weights, freeze = "0", out;
  int64_t freeze_layers = 0;  // from freeze: a layer count, or -1 for the whole backbone
  int64_t generated_per_class = -1, threads = 0;
  uint64_t subset_seed = 0;
  double fraction = 1.0;
  double bn_momentum = 0.99;
  bool no_cache = false, summary = false;
  bool exact_fp32 = false;  // --exact-fp32 or --precision fp32: no TF32 on CUDA (apps/math_mode.h)
  std::string precision;    // --precision fp32|tf32|bf16 as given ("" when not given)
  bool help = false;  // --help: print kClassifierUsage, nothing else was checked
  ClassifierTrainOptions train;
};

// argv without the program name -> the options; a FlagError names the flag that is wrong.
ClassifierFlags parse_classifier_flags(const std::vector<std::string>& args);

// The inputs that must exist before training: the --weights file (FlagError). The app also
// asks require_visible_device (apps/flags/cli.h) for --device.
void check_classifier_inputs(const ClassifierFlags& flags);

}  // namespace ember::training
