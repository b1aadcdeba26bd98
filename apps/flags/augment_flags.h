// build_augmented's flags: the usage text, the options they make, and every rule about them, in
// one place that apps/build_augmented and the experiment's check of its units
// (experiment/validate.h) both call. Parsing touches neither the file system nor the GPU;
// check_augment_inputs asks whether --generated exists when the app starts.
// Tested in tests/test_training_app_flags.cpp and tests/apps/generate_smoke.sh.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ember::training {

extern const char* const kAugmentUsage;

struct AugmentFlags {
  std::string generated, out, per = "class";
  bool allow_short = false;
  std::vector<int64_t> sizes = {100, 300, 500};
  std::vector<std::string> classes;  // empty: every class in the manifest
  bool help = false;                 // --help: print kAugmentUsage, nothing else was checked
};

// argv without the program name -> the options; a FlagError names the flag that is wrong.
AugmentFlags parse_augment_flags(const std::vector<std::string>& args);

// The input that must exist when the app starts: the --generated folder (FlagError).
void check_augment_inputs(const AugmentFlags& flags);

}  // namespace ember::training
