// train_gan's flags: the usage text, the options they make, and every rule about them (ranges,
// choices, the loss's defaults, the generator's stage count), in one place that apps/train_gan
// and the experiment's check of its units (experiment/validate.h) both call. Parsing touches
// neither the file system nor the GPU.
// Tested in tests/test_training_app_flags.cpp and tests/apps/train_gan_smoke.sh.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "gan/trainer.h"

namespace ember::training {

extern const char* const kGanUsage;

struct GanFlags {
  std::string data, variant = "full", cache_dir, out;
  uint64_t subset_seed = 0;
  double fraction = 1.0;
  int64_t threads = 0;
  bool no_cache = false;
  bool exact_fp32 = false;  // --exact-fp32 or --precision fp32: no TF32 on CUDA (apps/math_mode.h)
  std::string precision;    // --precision fp32|tf32|bf16 as given ("" when not given)
  bool help = false;  // --help: print kGanUsage, nothing else was checked
  GanTrainOptions train;
};

// argv without the program name -> the options; a FlagError names the flag that is wrong.
GanFlags parse_gan_flags(const std::vector<std::string>& args);

}  // namespace ember::training
