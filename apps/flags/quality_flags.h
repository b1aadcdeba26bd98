// gan_quality's flags: the usage text, the options they make, and every rule about them, in one
// place that apps/gan_quality and the experiment's check of its units (experiment/validate.h)
// both call. Parsing touches neither the file system nor the GPU (an experiment's generator
// and classifiers do not exist before its earlier units ran); check_quality_inputs asks about
// them when the app starts.
// Tested in tests/test_training_app_flags.cpp and tests/apps/generate_smoke.sh.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/device.h"

namespace ember::training {

extern const char* const kQualityUsage;

struct QualityFlags {
  std::string generator, features, acceptance, out = "gan_quality.json", data, cache_dir;
  std::vector<std::string> classes;  // every EuroSAT class unless --classes names some
  int64_t count = 500, batch = 64, threads = 0;
  uint64_t seed = 0;
  double fraction = 1.0;
  bool baseline = false, no_cache = false;
  Device device = Device::cpu();
  bool help = false;  // --help: print kQualityUsage, nothing else was checked
};

// argv without the program name -> the options; a FlagError names the flag that is wrong.
QualityFlags parse_quality_flags(const std::vector<std::string>& args);

// The inputs that must exist when the app starts: the three files (FlagError). The app also
// asks require_visible_device (apps/flags/cli.h) for --device.
void check_quality_inputs(const QualityFlags& flags);

}  // namespace ember::training
