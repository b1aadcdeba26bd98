// The report unit: from the finished units' files to <out>/report/:
//   results.csv      one row per classifier run (experiment/results.h)
//   summary.json     per-group statistics, the pooled variance, Welch tests against the
//                    unbalanced baseline, GAN quality and acceptance, the browser check
//   figures/*.svg|png  class counts, accuracy per group (overall, minority) with 95% intervals,
//                    training curves, GAN losses, real-next-to-generated samples, confusion
//                    matrices
//   report.html      one self-contained page (report/html_report.h), checked in headless
//                    Chromium when it is installed (screenshot.png beside it)
//   summary.md       the Markdown summary, also printed at the end of the run
// It is rebuilt from scratch on every run and works on a partial experiment (the page names
// the units that are missing). Tested by tests/apps/experiment_smoke.sh.
#pragma once

#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiment/config.h"
#include "experiment/ledger.h"
#include "experiment/plan.h"

namespace ember::experiment {

void build_report(const ExperimentConfig& config, const nlohmann::json& config_json,
                  const std::filesystem::path& out, const std::vector<Unit>& plan,
                  const Ledger& ledger);

}  // namespace ember::experiment
