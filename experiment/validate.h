// The check of an experiment's settings before its first unit runs: every app unit's command
// line, built as the runner will start it, goes through that app's own flag parser
// (apps/flags/*_flags.h, the functions the apps themselves call), so a value an app would refuse
// hours later, after the units before it, is refused at once and names the config key it came
// from. Inputs that exist before the run (classifier.weights) are checked too; the outputs of
// earlier units cannot be (they do not exist yet). Nothing here writes or touches the GPU.
// Tested in tests/test_experiment_validate.cpp.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "experiment/plan.h"

namespace ember::experiment {

// Throws training::FlagError for the first unit an app would refuse, e.g.
//   config 'classifier.optimizer' (train_classifier in unit classifier-original-seed0):
//   --optimizer must be one of adam, adamw, sgd, got 'adamx'
// `device` is the config's (cpu or cuda), as the runner passes it to the units.
void validate_plan(const std::vector<Unit>& plan, const std::filesystem::path& out,
                   const std::string& device);

// `program`'s own checks of a command line (argv without the program name): its parser, and
// for train_classifier the files it reads that no unit makes. FlagError when refused.
void check_app_flags(const std::string& program, const std::vector<std::string>& args);

}  // namespace ember::experiment
