// experiment: the seed's whole experiment in one resumable command.
//
//   ./build/apps/experiment                      # quick preset (~10 min on 2 CPU cores)
//   ./build/apps/experiment --preset full        # the seed's protocol, on the GPU(s)
//   ./build/apps/experiment --resume runs/experiment-full      # continue after a stop
//   ./build/apps/experiment --preset full --stages prepare,classifiers   # a stage at a time
//
// Stages: prepare -> classifiers (original, unbalanced, weighted; per seed) -> gan ->
// generation (filtered by the unbalanced classifier) -> augmented (classifiers on
// augmented<N>) -> evaluation (GAN quality) -> report. The plan, the ledger and the outputs are
// described in experiment/plan.h and experiment/runner.h; the configuration and its presets in
// experiment/config.h. Every setting is checked before anything runs or is written: the
// configuration's own rules, each unit's flags by its app's own parser (experiment/validate.h),
// and with device cuda a visible GPU. Exit status: 0 done, 1 a unit or the report failed
// (finished units are kept: rerun to continue), 2 a bad flag or configuration.
#include <cstdio>
#include <filesystem>
#include <set>

#include "apps/data_root.h"
#include "experiment/config.h"
#include "experiment/prepare.h"
#include "experiment/report_builder.h"
#include "experiment/runner.h"
#include "experiment/validate.h"
#include "apps/flags/cli.h"

using namespace ember;
using namespace ember::experiment;
using training::FlagError;
using training::FlagReader;
using training::require_flag;

namespace {

const char* kUsage = R"(usage: experiment [flags]
  --preset quick|full     quick: every stage on a small subset, ~10 min on 2 CPU cores (default);
                          full: the seed's protocol (whole splits, 3 seeds, the default GAN) for GPUs
  --config FILE           a JSON file merged over the preset (any subset of its keys)
  --set KEY=VALUE         one setting, e.g. --set classifier.epochs=30 --set seeds=[0,1,2,3,4]
                          (repeatable; after --config)
  --data DIR              EuroSAT root (default: $EMBER_DATA, <repo>/data, ../shared/data)
  --out DIR               the experiment folder (default runs/experiment-<preset>)
  --device cpu|cuda       where the units run (quick: cpu, full: cuda)
  --gpus N                with cuda: spread independent units over N GPUs (default: all visible)
  --exact-fp32            the training units (train_classifier, train_gan) keep exact fp32
                          math on CUDA; by default they use TF32 tensor cores there
                          (the setting exact_fp32; the same as --precision fp32)
  --precision fp32|tf32|bf16  the training units' math: fp32 exact, tf32 their default on
                          CUDA, bf16 operands with float32 sums on either device
                          (docs/mixed_precision.md; the setting precision; --exact-fp32 with
                          tf32 or bf16 is an error)
  --cuda-graphs on|off    on CUDA the training units capture their steps in CUDA graphs (on, the
                          default) or run them eagerly (docs/cuda_graphs.md; the setting
                          cuda_graphs; a stopped experiment may resume with the other value)
  --resume DIR            continue the experiment in DIR with its saved config.json
  --stages A,B            run only these stages (prepare, classifiers, gan, generation,
                          augmented, evaluation, report); earlier ones must be done
  --print-config          print the resolved configuration and exit
  --dry-run               check every setting as a run does, list the units, run nothing
  --progress-seconds S    a progress line at least every S seconds (default 20)
Outputs in DIR: config.json, ledger.json, experiment.log, units/<id>/ (each run's own files and
log.txt), report/ (report.html, summary.md, results.csv, summary.json, figures/, screenshot.png).
Exit status: 0 done, 1 a unit or the run failed, 2 a bad flag or setting, 77 it failed and no
EuroSAT data was found with neither --data nor $EMBER_DATA naming a place.
)";

struct Flags {
  std::string preset = "quick", config_file, resume;
  std::vector<std::string> overrides;
  std::set<std::string> stages;
  bool print_config = false, dry_run = false;
  double progress_seconds = 20;
};

Flags parse_flags(int argc, char** argv) {
  Flags f;
  FlagReader r(argc, argv);
  // --data/--out/--device/--gpus/--exact-fp32/--precision/--cuda-graphs: after --set
  std::vector<std::string> late;
  while (r.next()) {
    if (r.is("--preset")) f.preset = r.choice_value({"quick", "full"});
    else if (r.is("--config")) f.config_file = r.value();
    else if (r.is("--set")) f.overrides.push_back(r.value());
    else if (r.is("--data")) late.push_back("data=" + nlohmann::json(r.value()).dump());
    else if (r.is("--out")) late.push_back("out=" + nlohmann::json(r.value()).dump());
    else if (r.is("--device")) late.push_back("device=" + nlohmann::json(r.choice_value({"cpu", "cuda"})).dump());
    else if (r.is("--gpus")) late.push_back("gpus=" + std::to_string(r.int_value(0)));
    else if (r.is_switch("--exact-fp32")) late.push_back("exact_fp32=true");
    else if (r.is("--precision"))
      late.push_back("precision=" + nlohmann::json(r.choice_value({"fp32", "tf32", "bf16"})).dump());
    else if (r.is("--cuda-graphs"))
      late.push_back(r.choice_value({"on", "off"}) == "on" ? "cuda_graphs=true" : "cuda_graphs=false");
    else if (r.is("--resume")) f.resume = r.value();
    else if (r.is("--stages")) {
      // An empty list would select nothing, which the runner reads as every stage.
      for (const std::string& s : training::parse_names("--stages", r.value(), stage_names(), "stage"))
        f.stages.insert(s);
    } else if (r.is_switch("--print-config")) f.print_config = true;
    else if (r.is_switch("--dry-run")) f.dry_run = true;
    else if (r.is("--progress-seconds")) f.progress_seconds = r.double_value(1);
    else r.unknown();
  }
  r.exit_if_help(kUsage);
  if (!f.resume.empty()) {
    require_flag(f.config_file.empty(), "--resume uses the experiment's own config.json: drop --config");
    f.config_file = f.resume + "/config.json";
    require_flag(std::filesystem::exists(f.config_file), "--resume: ", f.config_file,
                 " does not exist (is ", f.resume, " an experiment folder?)");
  }
  f.overrides.insert(f.overrides.end(), late.begin(), late.end());
  return f;
}

// True when no EuroSAT data is found and the configuration names no place for it.
bool no_data_anywhere(const nlohmann::json& config) {
  try {
    apps::find_data_root(config.value("data", std::string()));
    return false;
  } catch (const apps::DataMissing&) {
    return true;
  } catch (const std::exception&) {
    return false;  // a place was named: its absence is an ordinary error
  }
}

int run(const Flags& f) {
  nlohmann::json config;
  try {
    config = resolve_config(f.preset, f.config_file, f.overrides);
  } catch (const std::exception& e) {
    throw FlagError(e.what());  // a bad configuration is a usage error (exit 2)
  }
  if (!f.resume.empty()) config["out"] = f.resume;
  if (f.print_config) {
    // The check a run makes first (bar the GPUs), so that what is printed is what would run.
    const ExperimentConfig typed = parse_config(config);
    validate_plan(build_plan(typed), std::filesystem::absolute(typed.out), typed.device);
    std::printf("%s\n", config.dump(2).c_str());
    return 0;
  }
  RunnerOptions options;
  options.config = config;
  options.stages = f.stages;
  options.dry_run = f.dry_run;
  options.progress_seconds = f.progress_seconds;
  InProcessSteps steps;
  steps.prepare = prepare_data;
  steps.report = build_report;
  // A run that fails with no EuroSAT data anywhere and no place named for it exits 77, the
  // apps' status for missing data (apps/data_root.h), so a test can skip on that status alone.
  int status = 1;
  try {
    status = run_experiment(options, steps);
  } catch (const training::FlagError&) {
    throw;  // a usage error stays a usage error (exit 2)
  } catch (const std::exception& e) {
    if (f.dry_run || !no_data_anywhere(config)) throw;
    std::fprintf(stderr, "experiment: %s\n", e.what());
    return apps::kExitNoData;
  }
  if (status != 0 && !f.dry_run && no_data_anywhere(config)) return apps::kExitNoData;
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  return training::run_cli_main("experiment", "(experiment --help lists the flags)",
                                [&] { return run(parse_flags(argc, argv)); });
}
