// generate's flags: the usage text, the options they make, and every rule about them, in one
// place that apps/generate and the experiment's check of its units (experiment/validate.h)
// both call. Parsing touches neither the file system nor the GPU (the generator and the
// classifier of an experiment's generation do not exist before its earlier units ran);
// check_generate_inputs asks about them when the app starts.
// Tested in tests/test_training_app_flags.cpp and tests/apps/generate_smoke.sh.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/device.h"

namespace ember::training {

extern const char* const kGenerateUsage;

struct GenerateFlags {
  std::string generator, classifier, out = "gen/kept";
  std::vector<std::string> classes = {"Highway", "River"};
  int64_t keep = 500, batch = 64, max_batches = 1000;
  bool allow_short = false;
  uint64_t seed = 0;
  Device device = Device::cpu();
  bool help = false;  // --help: print kGenerateUsage, nothing else was checked
};

// argv without the program name -> the options; a FlagError names the flag that is wrong.
GenerateFlags parse_generate_flags(const std::vector<std::string>& args);

// The inputs that must exist when generation starts: the two files (FlagError). The app also
// asks require_visible_device (apps/flags/cli.h) for --device.
void check_generate_inputs(const GenerateFlags& flags);

}  // namespace ember::training
