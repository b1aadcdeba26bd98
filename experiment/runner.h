// The experiment runner: executes the plan (experiment/plan.h) in <out>, one child process per
// unit, skipping what the ledger records as done, and ends with the report.
//
//   <out>/config.json    the resolved configuration (a rerun must resolve to the same one,
//                        apart from device, gpus, data, report and cuda_graphs settings;
//                        settings a saved one lacks are its preset's)
//   <out>/ledger.json    finished units (experiment/ledger.h)
//   <out>/units/<id>/    each unit's folder: log.txt plus the app's own outputs
//   <out>/report/        results.csv, summary.json, figures/, report.html, screenshot.png
//
// Before anything is written, every unit's flags go through its app's own parser
// (experiment/validate.h) and device cuda needs a visible GPU: a refusal (training::FlagError,
// exit status 2 in apps/experiment) leaves no folder or config.json behind.
// Resuming: a rerun skips done units; a unit that was interrupted is continued with its app's
// --resume where it has one (trainings) and started afresh otherwise, so a kill -9 loses at
// most the unit it was in. Several GPUs: with device cuda and more than one GPU, independent
// units run at once, one process per GPU (CUDA_VISIBLE_DEVICES). Progress: the stage, the
// units running, the last line of their logs, and an ETA for the whole experiment.
// Tested in tests/test_experiment_runner.cpp and tests/apps/experiment_smoke.sh.
#pragma once

#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiment/config.h"
#include "experiment/ledger.h"
#include "experiment/plan.h"

namespace ember::experiment {

struct RunnerOptions {
  nlohmann::json config;              // resolved (experiment/config.h)
  std::set<std::string> stages;       // empty: all
  std::filesystem::path apps_dir;     // where train_classifier etc. are; empty: beside us
  double progress_seconds = 20;       // a progress line at least this often while units run
  bool dry_run = false;               // print the plan and what would run, run nothing
  std::vector<int> assume_gpus;       // tests: with device cuda, schedule over these GPU numbers
                                      // instead of asking CUDA which are visible
};

// The in-process steps, given to the runner so that it can be tested without them.
struct InProcessSteps {
  std::function<void(const ExperimentConfig&, const std::filesystem::path& out)> prepare;
  std::function<void(const ExperimentConfig&, const nlohmann::json& config,
                     const std::filesystem::path& out, const std::vector<Unit>& plan,
                     const Ledger& ledger)>
      report;
};

// Runs the experiment; returns the process exit status (0: every selected unit done).
int run_experiment(const RunnerOptions& options, const InProcessSteps& steps);

}  // namespace ember::experiment
