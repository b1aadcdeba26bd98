// The experiment's configuration (experiment/config.h) and plan (experiment/plan.h): presets,
// merging and overrides, checked keys, and the units with their arguments and dependencies.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "experiment/config.h"
#include "experiment/plan.h"
#include "expect_error.h"
#include "temp_dir.h"

namespace ember {
namespace {

using experiment::apply_override;
using experiment::build_plan;
using experiment::parse_config;
using experiment::preset_json;
using experiment::resolve_config;
using experiment::Unit;
using nlohmann::json;

const Unit& unit(const std::vector<Unit>& plan, const std::string& id) {
  const auto it = std::find_if(plan.begin(), plan.end(), [&](const Unit& u) { return u.id == id; });
  EXPECT_NE(it, plan.end()) << id;
  return *it;
}

bool has_args(const Unit& u, const std::vector<std::string>& seq) {
  return std::search(u.args.begin(), u.args.end(), seq.begin(), seq.end()) != u.args.end();
}

TEST(ExperimentConfig, PresetsDifferWhereTheyShould) {
  const auto quick = parse_config(preset_json("quick"));
  const auto full = parse_config(preset_json("full"));
  EXPECT_EQ(quick.preset, "quick");
  EXPECT_EQ(quick.device, "cpu");
  EXPECT_LT(quick.fraction, 0.1);
  EXPECT_TRUE(quick.generation.allow_short);
  EXPECT_EQ(full.device, "cuda");
  EXPECT_EQ(full.fraction, 1.0);
  EXPECT_EQ(full.seeds, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(full.augmented_sizes, (std::vector<int64_t>{100, 300, 500}));
  EXPECT_EQ(full.augmented_per, "class");
  EXPECT_FALSE(full.generation.allow_short);
  EXPECT_TRUE(full.gan.g_widths.empty());  // the app's default networks
  EXPECT_EQ(quick.seeds.size(), 3u);       // quick keeps 3 seeds: the pooled variance needs them
  EXPECT_ERROR_MENTIONS(preset_json("medium"), "unknown preset 'medium'");
}

TEST(ExperimentConfig, OverridesParseJsonOrTakeAString) {
  json c = preset_json("quick");
  apply_override(c, "classifier.epochs=7");
  apply_override(c, "seeds=[3,4]");
  apply_override(c, "classifier.schedule=cosine");
  apply_override(c, "groups.oversampled=true");
  const auto parsed = parse_config(c);
  EXPECT_EQ(parsed.classifier.epochs, 7);
  EXPECT_EQ(parsed.seeds, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(parsed.classifier.schedule, "cosine");
  EXPECT_TRUE(parsed.group_oversampled);
  EXPECT_ERROR_MENTIONS(apply_override(c, "classifier.epoch=7"), "unknown key 'classifier.epoch'");
  EXPECT_ERROR_MENTIONS(apply_override(c, "epochs"), "expected key.path=value");
  // Bytes that are not UTF-8 (found by fuzz/fuzz_config.cpp): an ember::Error naming the key, not
  // nlohmann's type_error from dumping the value later (in the next error message or config.json).
  EXPECT_ERROR_MENTIONS(apply_override(c, "data=/data/caf\xE9"), "--set 'data': the value is not UTF-8");
  EXPECT_ERROR_MENTIONS(resolve_config("quick", "", {"fraction=0\xCA\xCA"}), "'fraction'");
}

TEST(ExperimentConfig, BadValuesNameTheKey) {
  auto bad = [](const std::string& assignment) {
    json c = preset_json("quick");
    apply_override(c, assignment);
    return testing::error_of([&] { parse_config(c); });
  };
  EXPECT_NE(bad("classifier.epochs=0").find("'classifier.epochs' must be positive"), std::string::npos);
  EXPECT_NE(bad("classifier.epochs=\"ten\"").find("'classifier.epochs' has the wrong type"), std::string::npos);
  EXPECT_NE(bad("seeds=[1,1]").find("lists a seed twice"), std::string::npos);
  EXPECT_NE(bad("fraction=1.5").find("'fraction' must be in (0, 1]"), std::string::npos);
  EXPECT_NE(bad("device=tpu").find("'device' must be cpu or cuda"), std::string::npos);
  EXPECT_NE(bad("gan.loss=hinge").find("'gan.loss' must be wgan-gp or bce"), std::string::npos);
  EXPECT_NE(bad("augmented.per=half").find("'augmented.per' must be class or total"), std::string::npos);
  // nlohmann's get<int64_t>() truncates 2.7 to 2 and reads true as 1: neither may pass.
  EXPECT_NE(bad("classifier.epochs=2.7").find("'classifier.epochs' has the wrong type (2.7): whole numbers"),
            std::string::npos);
  EXPECT_NE(bad("gan.epochs=3.0").find("'gan.epochs' has the wrong type"), std::string::npos);
  EXPECT_NE(bad("seeds=[0,1.5]").find("'seeds' has the wrong type"), std::string::npos);
  EXPECT_NE(bad("classifier.lr=true").find("'classifier.lr' has the wrong type"), std::string::npos);
  EXPECT_NE(bad("quality.enabled=1").find("'quality.enabled' has the wrong type"), std::string::npos);
  EXPECT_EQ(bad("classifier.lr=1"), "");  // an integer is a fine number
}

TEST(ExperimentConfig, FileIsMergedOverThePresetAndChecked) {
  testing::TempDir dir("experiment_config");
  std::ofstream(dir.file("a.json")) << R"({"classifier": {"epochs": 5}, "seeds": [0, 1]})";
  const json c = resolve_config("quick", dir.file("a.json"), {"classifier.lr=0.01"});
  const auto parsed = parse_config(c);
  EXPECT_EQ(parsed.classifier.epochs, 5);
  EXPECT_EQ(parsed.classifier.batch, 16);  // from the preset
  EXPECT_DOUBLE_EQ(parsed.classifier.lr, 0.01);
  EXPECT_EQ(parsed.seeds.size(), 2u);
  std::ofstream(dir.file("typo.json")) << R"({"clasifier": {"epochs": 5}})";
  EXPECT_ERROR_MENTIONS(resolve_config("quick", dir.file("typo.json"), {}), "unknown key 'clasifier'");
  std::ofstream(dir.file("broken.json")) << "{";
  EXPECT_ERROR_MENTIONS(resolve_config("quick", dir.file("broken.json"), {}), "is not valid JSON");
  EXPECT_ERROR_MENTIONS(resolve_config("quick", dir.file("none.json"), {}), "none.json");
}

TEST(ExperimentPlan, FullPresetHasEveryStageAndGroup) {
  const auto config = parse_config(preset_json("full"));
  const std::vector<Unit> plan = build_plan(config);
  // prepare + 4 base groups x 3 seeds + per GAN (full, balanced): gan, generate, augment,
  // 3 sizes x 3 seeds, quality + report.
  EXPECT_EQ(plan.size(), 1u + 12u + 2u * (3u + 9u + 1u) + 1u);
  std::map<std::string, int> ids;
  for (const Unit& u : plan) ids[u.id] += 1;
  for (const auto& [id, n] : ids) EXPECT_EQ(n, 1) << id;
  // Every dependency comes earlier in the plan.
  for (size_t i = 0; i < plan.size(); ++i)
    for (const std::string& need : plan[i].needs) {
      const auto at = std::find_if(plan.begin(), plan.end(), [&](const Unit& u) { return u.id == need; });
      ASSERT_NE(at, plan.end()) << plan[i].id << " needs unknown " << need;
      EXPECT_LT(at - plan.begin(), static_cast<long>(i)) << plan[i].id << " before " << need;
    }
  const std::vector<std::string> groups = experiment::classifier_groups(config);
  EXPECT_EQ(groups, (std::vector<std::string>{"original", "unbalanced", "weighted", "oversampled",
                                              "augmented100", "augmented300", "augmented500",
                                              "augmented100-balanced-gan", "augmented300-balanced-gan",
                                              "augmented500-balanced-gan"}));
}

TEST(ExperimentPlan, UnitsCarryTheRightArguments) {
  auto config = parse_config(preset_json("full"));
  const std::vector<Unit> plan = build_plan(config);
  const Unit& weighted = unit(plan, "classifier-weighted-seed2");
  EXPECT_TRUE(has_args(weighted, {"--variant", "weighted"}));
  EXPECT_TRUE(has_args(weighted, {"--seed", "2"}));
  EXPECT_TRUE(has_args(weighted, {"--augment"}));
  EXPECT_EQ(weighted.done_file, "units/classifier-weighted-seed2/run/result.json");
  EXPECT_TRUE(weighted.resumable);
  EXPECT_TRUE(has_args(unit(plan, "classifier-oversampled-seed0"), {"--variant", "unbalanced", "--balanced"}));

  const Unit& generate = unit(plan, "generate-full");
  EXPECT_EQ(generate.needs, (std::vector<std::string>{"gan-full", "classifier-unbalanced-seed0"}));
  EXPECT_TRUE(has_args(generate, {"--classifier", "{out}/units/classifier-unbalanced-seed0/run/best.safetensors"}));
  EXPECT_TRUE(has_args(generate, {"--keep", "500"}));
  EXPECT_TRUE(has_args(unit(plan, "gan-balanced"), {"--variant", "balanced"}));

  const Unit& aug = unit(plan, "classifier-augmented300-balanced-gan-seed1");
  EXPECT_EQ(aug.stage, "augmented");
  EXPECT_EQ(aug.needs, (std::vector<std::string>{"augment-balanced"}));
  EXPECT_TRUE(has_args(aug, {"--variant", "generated", "--generated", "{out}/units/augment-balanced/sets/augmented300"}));

  const Unit& quality = unit(plan, "quality-full");
  EXPECT_TRUE(has_args(quality, {"--features-classifier", "{out}/units/classifier-original-seed0/run/best.safetensors"}));
  EXPECT_TRUE(has_args(quality, {"--acceptance-classifier", "{out}/units/classifier-unbalanced-seed0/run/best.safetensors"}));

  config.group_balanced_gan = false;
  config.group_weighted = false;
  config.quality.enabled = false;
  config.seeds = {5};
  const std::vector<Unit> small = build_plan(config);
  EXPECT_EQ(small.size(), 1u + 3u + 3u + 3u + 1u);
  EXPECT_TRUE(has_args(unit(small, "generate-full"), {"--classifier", "{out}/units/classifier-unbalanced-seed5/run/best.safetensors"}));
}

// exact_fp32 (the experiment's --exact-fp32) reaches the training units, and only them; off by
// default, so they use TF32 on CUDA.
TEST(ExperimentPlan, ExactFp32ReachesTheTrainingUnits) {
  const auto has_flag = [](const Unit& u) { return has_args(u, {"--exact-fp32"}); };
  json c = preset_json("full");
  EXPECT_FALSE(parse_config(c).exact_fp32);
  for (const Unit& u : build_plan(parse_config(c))) EXPECT_FALSE(has_flag(u)) << u.id;
  apply_override(c, "exact_fp32=true");
  int training_units = 0;
  for (const Unit& u : build_plan(parse_config(c))) {
    const bool trains = u.program == "train_classifier" || u.program == "train_gan";
    training_units += trains;
    EXPECT_EQ(has_flag(u), trains) << u.id;
    if (trains) {
      EXPECT_EQ(u.flag_keys.at("--exact-fp32"), "exact_fp32") << u.id;
    }
  }
  EXPECT_GT(training_units, 10);
  apply_override(c, "exact_fp32=1");
  EXPECT_ERROR_MENTIONS(parse_config(c), "'exact_fp32' has the wrong type");
}

// Whether each unit of `c`'s plan has `seq` in its arguments exactly when it trains (and the
// flag's key is `key` there); counts the training units.
int expect_on_training_units_only(const json& c, const std::vector<std::string>& seq,
                                  const std::string& key) {
  int training_units = 0;
  for (const Unit& u : build_plan(parse_config(c))) {
    const bool trains = u.program == "train_classifier" || u.program == "train_gan";
    training_units += trains;
    EXPECT_EQ(has_args(u, seq), trains) << u.id << " " << seq.front();
    if (trains) {
      EXPECT_EQ(u.flag_keys.at(seq.front()), key) << u.id;
    }
  }
  return training_units;
}

// precision (the experiment's --precision) reaches the training units as --precision, and only
// them; empty by default, which adds nothing (the apps' own default, tf32 on CUDA).
TEST(ExperimentPlan, PrecisionReachesTheTrainingUnits) {
  json c = preset_json("full");
  EXPECT_EQ(parse_config(c).precision, "");
  EXPECT_EQ(parse_config(preset_json("quick")).precision, "");
  for (const Unit& u : build_plan(parse_config(c))) {
    EXPECT_EQ(std::count(u.args.begin(), u.args.end(), "--precision"), 0) << u.id;
  }
  for (const char* mode : {"fp32", "tf32", "bf16"}) {
    apply_override(c, std::string("precision=") + mode);
    EXPECT_EQ(parse_config(c).precision, mode);
    EXPECT_GT(expect_on_training_units_only(c, {"--precision", mode}, "precision"), 10) << mode;
    for (const Unit& u : build_plan(parse_config(c))) {
      EXPECT_FALSE(has_args(u, {"--exact-fp32"})) << u.id;  // precision alone, no alias
    }
  }
  for (const char* bad : {"fp16", "BF16", "tf32 "}) {
    apply_override(c, std::string("precision=\"") + bad + "\"");
    EXPECT_ERROR_MENTIONS(parse_config(c), "'precision' must be fp32, tf32, bf16 or \"\"");
  }
  apply_override(c, "precision=16");
  EXPECT_ERROR_MENTIONS(parse_config(c), "'precision' has the wrong type");
  apply_override(c, "precision=true");
  EXPECT_ERROR_MENTIONS(parse_config(c), "'precision' has the wrong type");
}

// exact_fp32 is precision fp32 by its older name: with precision fp32 (or none) it stands, with
// tf32 or bf16 the contradiction is refused naming both keys, whatever their order of setting.
TEST(ExperimentConfig, ExactFp32AndPrecisionMustAgree) {
  json c = preset_json("full");
  apply_override(c, "exact_fp32=true");
  const std::vector<Unit> alone = build_plan(parse_config(c));
  for (const Unit& u : alone) {
    EXPECT_EQ(std::count(u.args.begin(), u.args.end(), "--precision"), 0) << u.id;
  }
  apply_override(c, "precision=fp32");
  EXPECT_GT(expect_on_training_units_only(c, {"--exact-fp32"}, "exact_fp32"), 10);
  EXPECT_GT(expect_on_training_units_only(c, {"--precision", "fp32"}, "precision"), 10);
  for (const char* mode : {"tf32", "bf16"}) {
    apply_override(c, std::string("precision=") + mode);
    EXPECT_ERROR_MENTIONS(parse_config(c), "'exact_fp32' (true) contradicts 'precision' (" +
                                               std::string(mode) + ")");
  }
  apply_override(c, "exact_fp32=false");
  EXPECT_EQ(parse_config(c).precision, "bf16");
  // The experiment's flags are late overrides: --exact-fp32 --precision bf16 ends the same way.
  EXPECT_ERROR_MENTIONS(resolve_config("quick", "", {"exact_fp32=true", "precision=\"bf16\""}),
                        "'exact_fp32' (true) contradicts 'precision' (bf16)");
}

// cuda_graphs (the experiment's --cuda-graphs) is on by default, which adds nothing; off reaches
// the training units, and only them, as --cuda-graphs off.
TEST(ExperimentPlan, CudaGraphsOffReachesTheTrainingUnits) {
  for (const char* preset : {"quick", "full"}) {
    json c = preset_json(preset);
    EXPECT_TRUE(parse_config(c).cuda_graphs) << preset;
    for (const Unit& u : build_plan(parse_config(c))) {
      EXPECT_EQ(std::count(u.args.begin(), u.args.end(), "--cuda-graphs"), 0) << u.id;
    }
    apply_override(c, "cuda_graphs=false");
    EXPECT_FALSE(parse_config(c).cuda_graphs);
    EXPECT_GT(expect_on_training_units_only(c, {"--cuda-graphs", "off"}, "cuda_graphs"), 5) << preset;
    apply_override(c, "cuda_graphs=true");
    for (const Unit& u : build_plan(parse_config(c))) {
      EXPECT_EQ(std::count(u.args.begin(), u.args.end(), "--cuda-graphs"), 0) << u.id;
    }
    for (const char* bad : {"cuda_graphs=0", "cuda_graphs=off", "cuda_graphs=\"false\""}) {
      apply_override(c, bad);
      EXPECT_ERROR_MENTIONS(parse_config(c), "'cuda_graphs' has the wrong type");
    }
  }
}

TEST(ExperimentPlan, QuickPresetPassesTheSubsetAndShortFlags) {
  const std::vector<Unit> plan = build_plan(parse_config(preset_json("quick")));
  EXPECT_TRUE(has_args(unit(plan, "classifier-original-seed0"), {"--fraction", "0.04"}));
  EXPECT_TRUE(has_args(unit(plan, "classifier-original-seed0"), {"--bn-momentum", "0.9"}));
  EXPECT_TRUE(has_args(unit(plan, "classifier-original-seed0"), {"--batch", "16"}));
  EXPECT_TRUE(has_args(unit(plan, "gan-full"), {"--g-widths", "64,32,16,8"}));
  EXPECT_TRUE(has_args(unit(plan, "generate-full"), {"--allow-short"}));
  EXPECT_TRUE(has_args(unit(plan, "augment-full"), {"--sizes", "10,30,50"}));
  EXPECT_TRUE(has_args(unit(plan, "generate-full"), {"--keep", "50"}));
}

}  // namespace
}  // namespace ember
