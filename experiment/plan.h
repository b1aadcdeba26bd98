// The experiment as a list of units, each one process of an existing app (or an in-process
// step), with the units it needs first. The runner (experiment/runner.h) executes them in
// order, skipping those its ledger records as done.
//
// Stages and units (ids are also folder names under <out>/units/):
//   prepare     prepare                      data check, class counts (in-process)
//   classifiers classifier-<group>-seed<S>   train_classifier, groups original, unbalanced,
//                                            weighted (class weights), oversampled (extra)
//   gan         gan-full, gan-balanced       train_gan on the full split; extra: on the
//                                            unbalanced split with class-balanced sampling
//   generation  generate-<gan>               generate, filtered by the unbalanced classifier of
//                                            the first seed (as in the seed's post)
//               augment-<gan>                build_augmented: augmented<N> for every size
//   augmented   classifier-augmented<N>[-balanced-gan]-seed<S>   train_classifier, generated
//   evaluation  quality-<gan>                gan_quality: acceptance (unbalanced classifier),
//                                            Fréchet distance and diversity (original classifier)
//   report      report                       results.csv, summary.json, figures, report.html
//                                            (in-process; always redone)
// Tested in tests/test_experiment_config.cpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "experiment/config.h"

namespace ember::experiment {

enum class UnitKind { kPrepare, kClassifier, kGan, kGenerate, kAugment, kQuality, kReport };

const char* unit_kind_name(UnitKind kind);

struct Unit {
  std::string id;                 // unique; the folder <out>/units/<id>
  std::string stage;              // prepare, classifiers, gan, generation, augmented, evaluation, report
  UnitKind kind = UnitKind::kPrepare;
  std::string group;              // classifier units: the group of the report (e.g. "weighted")
  int64_t seed = -1;              // classifier units: the run's seed
  std::string program;            // the app (file name in the apps folder); empty: in-process
  std::vector<std::string> args;  // its flags, without --device and --out/--resume
  std::map<std::string, std::string> flag_keys;  // flag -> the config key its value comes from
  std::string out_flag;           // the flag that names its output ("--out"), if any
  std::string output;             // the path given to out_flag, relative to <out>
  std::string done_file;          // relative to <out>: exists when the unit finished
  bool resumable = false;         // the app has --resume (classifier and GAN trainings)
  bool uses_device = false;       // gets --device (and a GPU of its own when there are several)
  std::vector<std::string> needs; // ids of units that must be done first
  double cost = 1.0;              // relative work, for the ETA before any unit of a kind ran
};

// The stages in order (for progress lines and --stages).
const std::vector<std::string>& stage_names();

// The classifier groups of a configuration, in report order: original, unbalanced, weighted?,
// oversampled?, augmented<N>..., augmented<N>-balanced-gan...
std::vector<std::string> classifier_groups(const ExperimentConfig& config);

// The units of the experiment, dependencies before dependents.
std::vector<Unit> build_plan(const ExperimentConfig& config);

// `text` with "{out}" replaced by the experiment folder.
std::string with_out(const std::string& text, const std::filesystem::path& out);

// The unit's command line as the runner starts it: its args with {out} replaced, --device
// (cpu or cuda) for units that use one, the output flag, and --resume to continue saved state.
std::vector<std::string> unit_command(const Unit& unit, const std::filesystem::path& out,
                                      const std::string& device, bool resume);

}  // namespace ember::experiment
