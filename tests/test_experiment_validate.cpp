// The check of an experiment's settings before any unit runs (experiment/validate.h): every
// setting an app would refuse when its unit starts, hours in, is refused at once with the
// app's own words and the config key it came from. The runner's part (nothing is written
// first) is in tests/test_experiment_runner.cpp.
#include <gtest/gtest.h>

#include <string>

#include "experiment/config.h"
#include "experiment/plan.h"
#include "experiment/validate.h"
#include "expect_error.h"
#include "apps/flags/cli.h"

namespace ember {
namespace {

using namespace ember::experiment;
using nlohmann::json;

// The FlagError of validating `preset` with `assignment` applied, or "" when it passes.
std::string refusal(const std::string& assignment, const std::string& preset = "quick") {
  json config = preset_json(preset);
  if (!assignment.empty()) apply_override(config, assignment);
  try {
    validate_plan(build_plan(parse_config(config)), "/tmp/experiment", parse_config(config).device);
  } catch (const training::FlagError& e) {
    return e.what();
  }
  return "";
}

TEST(ExperimentValidate, ThePresetsPass) {
  EXPECT_EQ(refusal(""), "");
  EXPECT_EQ(refusal("", "full"), "");  // device cuda parses without a GPU; the runner asks
}

// The math and graph settings reach the apps as flags their own parsers accept.
TEST(ExperimentValidate, TheMathAndGraphSettingsPass) {
  for (const char* preset : {"quick", "full"}) {
    for (const char* assignment : {"precision=fp32", "precision=tf32", "precision=bf16",
                                   "cuda_graphs=false", "exact_fp32=true"})
      EXPECT_EQ(refusal(assignment, preset), "") << preset << " " << assignment;
  }
  json config = preset_json("full");
  for (const char* assignment : {"exact_fp32=true", "precision=fp32", "cuda_graphs=false"})
    apply_override(config, assignment);
  EXPECT_NO_THROW(validate_plan(build_plan(parse_config(config)), "/tmp/experiment", "cuda"));
}

TEST(ExperimentValidate, WhatAnAppWouldRefuseLaterIsRefusedNowNamingTheKey) {
  EXPECT_EQ(refusal("classifier.optimizer=adamx"),
            "config 'classifier.optimizer' (train_classifier in unit classifier-original-seed0): "
            "--optimizer must be one of adam, adamw, sgd, got 'adamx'");
  const auto refused = [](const std::string& assignment, const std::string& key,
                          const std::string& why) {
    const std::string message = refusal(assignment);
    EXPECT_NE(message.find("config '" + key + "'"), std::string::npos) << assignment << ": " << message;
    EXPECT_NE(message.find(why), std::string::npos) << assignment << ": " << message;
  };
  refused("classifier.batch=1", "classifier.batch", "--batch must be in [2, 65536], got 1");
  refused("gan.batch=1", "gan.batch", "--batch must be in [2, 65536], got 1");
  refused("generation.classes=[\"Rivers\"]", "generation.classes", "unknown class 'Rivers'");
  refused("gan.seed=-1", "gan.seed", "--seed must be >= 0, got -1");
  refused("generation.seed=-3", "generation.seed", "--seed must be >= 0, got -3");
  refused("subset_seed=-2", "subset_seed", "--subset-seed must be >= 0, got -2");
  refused("classifier.freeze=most", "classifier.freeze", "--freeze (a layer count or 'backbone')");
  refused("classifier.schedule=linear", "classifier.schedule", "--schedule must be one of");
  refused("gan.g_widths=[64,32,16]", "gan.g_widths", "3 stages make 32x32");
  refused("gan.d_widths=[16,0]", "gan.d_widths", "widths must be in [1, 65536], got 0");
  refused("gan.ema=1.5", "gan.ema", "--ema must be in");
  refused("classifier.patience=-1", "classifier.patience", "--patience must be in");
  refused("quality.count=1", "quality.count", "--count must be in [2, 1000000], got 1");
  refused("classifier.extra_args=[\"--bogus\"]", "classifier.extra_args", "unknown flag '--bogus'");
  refused("gan.extra_args=[\"--n-critic\",\"0\"]", "gan.extra_args", "--n-critic must be in");
  // A setting the plan adds no key for still names the unit and the app.
  const std::string stray = refusal("classifier.extra_args=[\"stray\"]");
  EXPECT_NE(stray.find("train_classifier in unit classifier-original-seed0: unexpected argument 'stray'"),
            std::string::npos) << stray;
}

TEST(ExperimentValidate, InputsThatExistBeforeTheRunAreChecked) {
  EXPECT_NE(refusal("classifier.weights=/no/such/b2.safetensors")
                .find("config 'classifier.weights' (train_classifier in unit classifier-original-seed0): "
                      "--weights: no such file '/no/such/b2.safetensors'"),
            std::string::npos);
}

TEST(ExperimentValidate, EachProgramHasItsCheck) {
  EXPECT_NO_THROW(check_app_flags("build_augmented", {"--generated", "k", "--out", "o"}));
  EXPECT_THROW(check_app_flags("build_augmented", {"--generated", "k"}), training::FlagError);
  EXPECT_ERROR_MENTIONS(check_app_flags("no_such_app", {}), "no_such_app");
}

}  // namespace
}  // namespace ember
