// The EuroSAT data root for the apps that read the real data (train_classifier, train_gan,
// gan_quality), and the exit status that says it is not there, so that a test can skip on that
// status alone instead of guessing from the error text.
//
//   return exit_when_data_missing("train_gan", [&] { return run(f); });  // inside run_cli_main
//
// Exit status kExitNoData (77, the "skipped" status of automake and CTest's SKIP_RETURN_CODE):
// neither --data nor EMBER_DATA names a place and the search (datasets/eurosat.h) found no
// EuroSAT_RGB/ folder. A place that was named but holds no data stays an ordinary error (exit
// 1): the user said where the data is, and it is not there. Tested by the CTest smoke tests
// TrainClassifierApp, TrainGanApp and GanQualityApp (tests/apps/), which skip on 77 only.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

#include "datasets/eurosat.h"

namespace ember::apps {

inline constexpr int kExitNoData = 77;

// No EuroSAT data found, and no place named for it (see above).
struct DataMissing : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// datasets::resolve_data_root(flag), its "not found anywhere" failure as DataMissing.
inline std::filesystem::path find_data_root(const std::string& flag) {
  const char* env = std::getenv("EMBER_DATA");
  const bool named = !flag.empty() || (env != nullptr && *env != '\0');
  try {
    return datasets::resolve_data_root(flag);
  } catch (const std::exception& e) {
    if (named) throw;
    throw DataMissing(e.what());
  }
}

// Runs body(); a DataMissing leaving it prints "<program>: <message>" to stderr, as
// run_cli_main prints errors, and returns kExitNoData. Other errors go on to the caller.
inline int exit_when_data_missing(const char* program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const DataMissing& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return kExitNoData;
  }
}

}  // namespace ember::apps
