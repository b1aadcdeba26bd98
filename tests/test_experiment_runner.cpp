// The experiment runner's scheduling (experiment/runner.h) with stand-in apps: a shell script
// under each app's name that logs its call, writes the file that marks its unit done, and fails
// or sleeps when told to. Checks: every unit runs once, a rerun skips done units, a failure
// keeps finished units and a rerun continues, an interrupted training resumes, a changed
// configuration is refused (another precision too; cuda_graphs and the settings an older
// config.json lacks are not changes), a bad setting (or device cuda without a GPU) is refused before
// anything is written, a failure's note carries the app's error line, a damaged ledger is named,
// missing earlier stages are named, and with several GPUs units run at once, one per GPU. The
// real apps end to end: tests/apps/experiment_smoke.sh.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "experiment/config.h"
#include "experiment/runner.h"
#include "tensor/device.h"
#include "apps/flags/cli.h"
#include "training/output_lock.h"
#include "expect_error.h"
#include "temp_dir.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using namespace ember::experiment;
using nlohmann::json;

const char* kFakeApp = R"SH(#!/bin/bash
prog=$(basename "$0")
out="" resume=0 sizes=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift ;;
    --sizes) sizes=$2; shift ;;
    --resume) resume=1 ;;
  esac
  shift
done
echo "start $prog $out resume=$resume gpu=${CUDA_VISIBLE_DEVICES:-none}" >> "$FAKE_APPS_LOG"
if [ -n "${FAKE_FAIL:-}" ] && [[ "$out" == *"$FAKE_FAIL"* ]]; then
  # As training::run_cli_main prints an error: the message, then the usage hint.
  echo "$prog: fake failure of $out" >&2
  echo "($prog --help lists the flags)" >&2
  exit 3
fi
sleep "${FAKE_SLEEP:-0}"
case $prog in
  train_classifier)
    mkdir -p "$out" && touch "$out/last.safetensors" "$out/best.safetensors"
    echo '{"format": "ember.train_classifier.v1"}' > "$out/result.json" ;;
  train_gan) mkdir -p "$out" && echo '{}' > "$out/checkpoint.json" && touch "$out/generator.safetensors" ;;
  generate) mkdir -p "$out" && echo '{}' > "$out/summary.json" ;;
  build_augmented) for n in ${sizes//,/ }; do mkdir -p "$out/augmented$n" && touch "$out/augmented$n/manifest.csv"; done ;;
  gan_quality) mkdir -p "$(dirname "$out")" && echo '{}' > "$out" ;;
esac
echo "end $prog $out" >> "$FAKE_APPS_LOG"
)SH";

class ExperimentRunner : public ::testing::Test {
 protected:
  void SetUp() override {
    apps_ = dir_.path / "apps";
    fs::create_directories(apps_);
    std::ofstream(apps_ / "fake_app.sh") << kFakeApp;
    ::chmod((apps_ / "fake_app.sh").c_str(), 0755);
    for (const char* name : {"train_classifier", "train_gan", "generate", "build_augmented", "gan_quality"})
      fs::create_symlink(apps_ / "fake_app.sh", apps_ / name);
    ::setenv("FAKE_APPS_LOG", (dir_.path / "calls.log").c_str(), 1);
    ::unsetenv("FAKE_FAIL");
    ::unsetenv("FAKE_SLEEP");
    config_ = preset_json("quick");
    config_["out"] = (dir_.path / "out").string();
    config_["seeds"] = {0, 1};
    steps_.prepare = [this](const ExperimentConfig&, const fs::path& out) {
      ++prepares_;
      fs::create_directories(out / "units/prepare");
      std::ofstream(out / "units/prepare/data_summary.json") << "{}";
    };
    steps_.report = [this](const ExperimentConfig&, const json&, const fs::path& out,
                           const std::vector<Unit>&, const Ledger&) {
      ++reports_;
      fs::create_directories(out / "report");
      std::ofstream(out / "report/report.html") << "<html></html>";
    };
  }
  void TearDown() override {
    ::unsetenv("FAKE_FAIL");
    ::unsetenv("FAKE_SLEEP");
  }

  int run(std::set<std::string> stages = {}, std::vector<int> gpus = {}) {
    RunnerOptions options;
    options.config = config_;
    options.apps_dir = apps_;
    options.stages = std::move(stages);
    options.assume_gpus = std::move(gpus);
    options.progress_seconds = 1000;
    return run_experiment(options, steps_);
  }
  std::vector<std::string> calls(const std::string& prefix = "start ") const {
    std::vector<std::string> lines;
    std::ifstream in(dir_.path / "calls.log");
    for (std::string line; std::getline(in, line);)
      if (line.rfind(prefix, 0) == 0) lines.push_back(line);
    return lines;
  }
  size_t calls_for(const std::string& unit_id) const {
    const auto c = calls();
    return std::count_if(c.begin(), c.end(), [&](const std::string& l) {
      return l.find("/units/" + unit_id + "/") != std::string::npos;
    });
  }
  json ledger() const {
    std::ifstream in(dir_.path / "out/ledger.json");
    return json::parse(in);
  }

  testing::TempDir dir_{"experiment_runner"};
  fs::path apps_;
  json config_;
  InProcessSteps steps_;
  int prepares_ = 0, reports_ = 0;
};

TEST_F(ExperimentRunner, RunsEveryUnitOnceAndARerunSkipsThem) {
  ASSERT_EQ(run(), 0);
  const size_t units = build_plan(parse_config(config_)).size();
  // 2 seeds x 3 groups + gan + generate + augment + 2 seeds x 3 sizes + quality = 16 apps.
  EXPECT_EQ(calls().size(), 16u);
  EXPECT_EQ(calls("end ").size(), 16u);
  EXPECT_EQ(prepares_, 1);
  EXPECT_EQ(reports_, 1);
  const json l = ledger();
  EXPECT_EQ(l["units"].size(), units);
  for (auto it = l["units"].begin(); it != l["units"].end(); ++it)
    EXPECT_EQ(it.value()["status"], "done") << it.key();
  // Each unit wrote its command line and a log.
  EXPECT_TRUE(fs::exists(dir_.path / "out/units/generate-full/command.txt"));
  EXPECT_TRUE(fs::exists(dir_.path / "out/units/generate-full/log.txt"));
  EXPECT_TRUE(fs::exists(dir_.path / "out/config.json"));

  ASSERT_EQ(run(), 0);
  EXPECT_EQ(calls().size(), 16u);  // nothing ran again...
  EXPECT_EQ(prepares_, 1);
  EXPECT_EQ(reports_, 2);          // ...but the report is always rebuilt

  // A done unit whose output file was deleted is redone (and nothing else).
  fs::remove(dir_.path / "out/units/classifier-weighted-seed1/run/result.json");
  ASSERT_EQ(run(), 0);
  EXPECT_EQ(calls().size(), 17u);
  EXPECT_EQ(calls_for("classifier-weighted-seed1"), 2u);
}

TEST_F(ExperimentRunner, AFailureKeepsFinishedUnitsAndARerunContinues) {
  ::setenv("FAKE_FAIL", "classifier-unbalanced-seed0", 1);
  EXPECT_EQ(run(), 1);
  const json l = ledger();
  EXPECT_EQ(l["units"]["classifier-unbalanced-seed0"]["status"], "failed");
  // The note (and the FAILED line) carry the app's error, not the usage hint printed after it.
  const std::string note = l["units"]["classifier-unbalanced-seed0"]["note"];
  EXPECT_NE(note.find("exit status 3: train_classifier: fake failure of "), std::string::npos) << note;
  EXPECT_EQ(note.find("--help"), std::string::npos) << note;
  EXPECT_EQ(l["units"]["classifier-original-seed0"]["status"], "done");
  EXPECT_FALSE(l["units"].contains("generate-full"));  // it needs the failed unit
  EXPECT_EQ(reports_, 1);                              // a partial report is still written
  const size_t before = calls().size();

  ::unsetenv("FAKE_FAIL");
  ASSERT_EQ(run(), 0);
  EXPECT_EQ(calls_for("classifier-original-seed0"), 1u);
  EXPECT_EQ(calls_for("classifier-unbalanced-seed0"), 2u);
  EXPECT_EQ(calls().size(), 16u + 1u);
  EXPECT_GT(calls().size(), before);
  EXPECT_EQ(ledger()["units"]["classifier-unbalanced-seed0"]["attempts"], 2);
}

TEST_F(ExperimentRunner, AnInterruptedTrainingResumesAndOtherUnitsStartAfresh) {
  // What a kill leaves behind: a training with saved state, a generation half written.
  fs::create_directories(dir_.path / "out/units/classifier-original-seed1/run");
  std::ofstream(dir_.path / "out/units/classifier-original-seed1/run/last.safetensors") << "state";
  fs::create_directories(dir_.path / "out/units/generate-full/kept.partial");
  std::ofstream(dir_.path / "out/units/generate-full/kept.partial/junk") << "x";
  ASSERT_EQ(run(), 0);
  for (const std::string& c : calls()) {
    const bool resumed = c.find("resume=1") != std::string::npos;
    EXPECT_EQ(resumed, c.find("classifier-original-seed1") != std::string::npos) << c;
  }
  EXPECT_FALSE(fs::exists(dir_.path / "out/units/generate-full/kept.partial"));
}

TEST_F(ExperimentRunner, AChangedConfigurationIsRefused) {
  ASSERT_EQ(run(), 0);
  config_["classifier"]["epochs"] = 9;
  EXPECT_ERROR_MENTIONS(run(), "/classifier/epochs");
  // Settings that do not change results may differ.
  config_["classifier"]["epochs"] = preset_json("quick")["classifier"]["epochs"];
  config_["report"]["browser_check"] = false;
  EXPECT_EQ(run(), 0);
}

// The math changes results, so a rerun with another precision is refused; CUDA graphs replay
// the eager steps bit for bit, so a stopped experiment may continue with them off (or on).
TEST_F(ExperimentRunner, APrecisionChangeIsRefusedACudaGraphsChangeIsNot) {
  ASSERT_EQ(run(), 0);
  const size_t started = calls().size();
  config_["precision"] = "bf16";
  EXPECT_ERROR_MENTIONS(run(), "/precision");
  config_["precision"] = "";
  config_["exact_fp32"] = true;
  EXPECT_ERROR_MENTIONS(run(), "/exact_fp32");
  config_["exact_fp32"] = false;
  config_["cuda_graphs"] = false;
  EXPECT_EQ(run(), 0);
  EXPECT_EQ(calls().size(), started);  // every unit was done: nothing ran again
}

// An experiment saved before precision and cuda_graphs existed has neither in its config.json;
// its rerun (and --resume, which reads it over the preset) takes the defaults, not a change.
TEST_F(ExperimentRunner, ASavedConfigurationWithoutTheNewerSettingsStillMatches) {
  ::setenv("FAKE_FAIL", "classifier-weighted-seed1", 1);
  EXPECT_EQ(run(), 1);
  ::unsetenv("FAKE_FAIL");
  json saved = json::parse(std::ifstream(dir_.path / "out/config.json"));
  ASSERT_TRUE(saved.contains("precision") && saved.contains("cuda_graphs"));
  saved.erase("precision");
  saved.erase("cuda_graphs");
  std::ofstream(dir_.path / "out/config.json") << saved.dump(2);
  EXPECT_EQ(run(), 0);
  EXPECT_EQ(calls_for("classifier-weighted-seed1"), 2u);
  config_["precision"] = "fp32";
  EXPECT_ERROR_MENTIONS(run(), "/precision");
}

TEST_F(ExperimentRunner, ABadSettingIsRefusedBeforeAnythingIsWritten) {
  // The stand-in apps accept anything: only the check before the run can refuse this.
  config_["classifier"]["optimizer"] = "adamx";
  EXPECT_THROW(run(), training::FlagError);
  EXPECT_FALSE(fs::exists(dir_.path / "out"));  // no config.json to refuse the corrected one
  EXPECT_TRUE(calls().empty());
  config_["classifier"]["optimizer"] = "adam";
  EXPECT_EQ(run(), 0);
}

TEST_F(ExperimentRunner, DeviceCudaWithoutAGpuIsABadSettingAndWritesNothing) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is visible";
  config_["device"] = "cuda";
  try {
    run();
    ADD_FAILURE() << "device cuda ran without a GPU";
  } catch (const training::FlagError& e) {
    EXPECT_NE(std::string(e.what()).find("no GPU is visible"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_.path / "out"));
}

TEST_F(ExperimentRunner, ADamagedLedgerIsNamed) {
  // Valid JSON of the wrong shape: nlohmann's own error would not say which file.
  fs::create_directories(dir_.path / "out");
  const fs::path ledger = dir_.path / "out/ledger.json";
  std::ofstream(ledger) << R"({"format": "ember.experiment.ledger.v1", "units": {"prepare": 5}})";
  EXPECT_ERROR_MENTIONS(Ledger{ledger}, ledger.string());
  std::ofstream(ledger) << R"({"format": "ember.experiment.ledger.v1", "units": [1]})";
  EXPECT_ERROR_MENTIONS(Ledger{ledger}, ledger.string());
  std::ofstream(ledger) << R"({"format": "ember.experiment.ledger.v1"})";
  EXPECT_ERROR_MENTIONS(Ledger{ledger}, ledger.string());
  std::ofstream(ledger) << R"({"format": "ember.experiment.ledger.v1", "units": {"prepare": {"seconds": "long"}}})";
  EXPECT_ERROR_MENTIONS(run(), ledger.string());
}

// One runner per folder, with the lock every app takes on its --out (training/output_lock.h):
// while another process holds it, a runner stops before running anything.
TEST_F(ExperimentRunner, ASecondRunnerInTheSameFolderIsRefused) {
  fs::create_directories(dir_.path / "out");
  {
    training::OutputLock held(dir_.path / "out/.lock", "held by the test");
    const pid_t child = ::fork();
    if (child == 0) {  // a second process: flock locks belong to open files, not to threads
      try {
        run();
        ::_exit(0);
      } catch (const Error& e) {
        const std::string text = e.what();
        ::_exit(text.find("the experiment folder") != std::string::npos &&
                        text.find("in use by another process") != std::string::npos
                    ? 3
                    : 4);
      }
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 3) << "0: ran anyway; 4: another error";
  }
  EXPECT_TRUE(calls().empty());
  EXPECT_EQ(run(), 0);  // the lock is released with its holder
}

TEST_F(ExperimentRunner, LaterStagesNeedTheEarlierOnes) {
  EXPECT_ERROR_MENTIONS(run({"augmented"}), "needs augment-full");
  ASSERT_EQ(run({"prepare", "classifiers"}), 0);
  EXPECT_EQ(calls().size(), 6u);
  ASSERT_EQ(run({"gan", "generation"}), 0);
  EXPECT_EQ(calls().size(), 9u);
  ASSERT_EQ(run(), 0);
  EXPECT_EQ(calls().size(), 16u);
}

TEST_F(ExperimentRunner, SeveralGpusRunUnitsAtOnceOnePerGpu) {
  config_["device"] = "cuda";
  ::setenv("FAKE_SLEEP", "0.3", 1);
  ASSERT_EQ(run({}, {0, 1}), 0);
  // Walk the log: never more than 2 apps at once, 2 at some point, and both GPUs used.
  int running = 0, most = 0;
  std::map<std::string, int> gpus;
  std::ifstream in(dir_.path / "calls.log");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("start ", 0) == 0) {
      most = std::max(most, ++running);
      gpus[line.substr(line.find("gpu="))] += 1;
    } else {
      --running;
    }
  }
  EXPECT_EQ(most, 2);
  EXPECT_EQ(gpus.size(), 2u);
  EXPECT_GT(gpus["gpu=0"], 0);
  EXPECT_GT(gpus["gpu=1"], 0);
}

}  // namespace
}  // namespace ember
