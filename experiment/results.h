// The experiment's results gathered from its units' output files: one RunResult per finished
// classifier run (train_classifier's result.json), plus the GAN's losses, the generation's
// acceptance rates and the GAN quality figures. Written as <out>/report/results.csv (one row
// per run). Tested in tests/test_experiment_results.cpp.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiment/ledger.h"
#include "experiment/plan.h"

namespace ember::experiment {

struct RunResult {
  std::string unit_id;
  std::string group;
  int64_t seed = 0;
  double accuracy = 0;                 // overall test accuracy
  double minority_accuracy = 0;        // on Highway and River together
  std::vector<std::string> classes;
  std::vector<double> per_class_accuracy;
  std::vector<std::vector<long long>> matrix;   // test confusion matrix (rows: true class)
  int64_t epochs = 0;
  double seconds = 0;
  std::string device;
  int64_t train_images = 0;
  std::vector<double> val_accuracy;    // per epoch
  std::vector<double> train_loss;      // per epoch
};

// Reads one train_classifier result.json (errors name the file and the missing field).
RunResult read_run_result(const std::filesystem::path& result_json, const std::string& unit_id,
                          const std::string& group, int64_t seed);

// Every finished classifier unit of the plan, in plan order.
std::vector<RunResult> collect_results(const std::vector<Unit>& plan,
                                       const std::filesystem::path& out, const Ledger& ledger);

// results.csv: group, seed, accuracy, minority_accuracy, one column per class, epochs,
// seconds, device, train_images, unit.
std::string results_csv(const std::vector<RunResult>& runs);

}  // namespace ember::experiment
