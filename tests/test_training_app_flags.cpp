// The apps' flag parsers (apps/flags/{classifier,gan,generate,augment,quality}_flags.h): the rules
// each app applies, checked without the file system or a GPU, since the experiment runs the same
// parsers over its units' command lines before their inputs exist (experiment/validate.h).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "apps/flags/augment_flags.h"
#include "apps/flags/classifier_flags.h"
#include "apps/flags/cli.h"
#include "apps/flags/gan_flags.h"
#include "apps/flags/generate_flags.h"
#include "apps/flags/quality_flags.h"
#include "apps/math_mode.h"

namespace ember {
namespace {

using namespace training;
using Args = std::vector<std::string>;

// The FlagError text of parse(args), or "" when the arguments are accepted.
template <typename Parse>
std::string error(Parse parse, const Args& args) {
  try {
    parse(args);
  } catch (const FlagError& e) {
    return e.what();
  }
  return "";
}

bool mentions(const std::string& message, const std::string& part) {
  return message.find(part) != std::string::npos;
}

TEST(TrainingAppFlags, Classifier) {
  const ClassifierFlags f = parse_classifier_flags(
      {"--variant", "weighted", "--epochs", "3", "--optimizer", "sgd", "--freeze", "backbone"});
  EXPECT_EQ(f.variant, "weighted");
  EXPECT_EQ(f.train.epochs, 3);
  EXPECT_EQ(f.train.optimizer, "sgd");
  EXPECT_EQ(f.freeze_layers, -1);
  EXPECT_EQ(f.out, "runs/classifier-weighted-seed0");
  EXPECT_EQ(parse_classifier_flags({"--freeze", "12"}).freeze_layers, 12);
  const auto parse = parse_classifier_flags;
  EXPECT_EQ(error(parse, {"--optimizer", "adamx"}),
            "--optimizer must be one of adam, adamw, sgd, got 'adamx'");
  EXPECT_EQ(error(parse, {"--batch", "1"}), "--batch must be in [2, 65536], got 1");
  EXPECT_EQ(error(parse, {"--epochs", " 3"}), "--epochs: expected an integer, got ' 3'");
  EXPECT_EQ(error(parse, {"--epochs", "2.7"}), "--epochs: expected an integer, got '2.7'");
  EXPECT_EQ(error(parse, {"--seed", "-1"}), "--seed must be >= 0, got -1");
  EXPECT_TRUE(mentions(error(parse, {"--freeze", "some"}), "--freeze (a layer count or 'backbone')"));
  EXPECT_TRUE(mentions(error(parse, {"--freeze", "-2"}), "--freeze must be a layer count >= 0"));
  EXPECT_EQ(error(parse, {"--variant", "generated"}), "--variant generated needs --generated DIR");
  EXPECT_TRUE(mentions(error(parse, {"--schedule", "cosine", "--epochs", "2", "--warmup", "2"}),
                       "--warmup (2) must be shorter than --epochs (2)"));
}

TEST(TrainingAppFlags, ParsingAsksNeitherTheFilesNorTheGpu) {
  // A missing --weights file and a CUDA device parse: the app asks about them when it starts.
  const ClassifierFlags f =
      parse_classifier_flags({"--weights", "/no/such/weights.safetensors", "--device", "cuda"});
  EXPECT_TRUE(f.train.device.is_cuda());
  EXPECT_TRUE(mentions(error([](const Args& a) { check_classifier_inputs(parse_classifier_flags(a)); },
                             {"--weights", "/no/such/weights.safetensors"}),
                       "--weights: no such file '/no/such/weights.safetensors'"));
  const GenerateFlags g = parse_generate_flags({"--generator", "/no/g", "--classifier", "/no/c"});
  EXPECT_EQ(g.generator, "/no/g");
  EXPECT_TRUE(mentions(error([](const Args& a) { check_generate_inputs(parse_generate_flags(a)); },
                             {"--generator", "/no/g", "--classifier", "/no/c"}),
                       "--generator: no such file '/no/g'"));
  const QualityFlags q = parse_quality_flags({"--generator", "/no/g", "--features-classifier", "/no/f"});
  EXPECT_EQ(q.acceptance, "/no/f");  // the features classifier by default
  EXPECT_EQ(q.classes.size(), 10u);  // all
  const AugmentFlags a = parse_augment_flags({"--generated", "/no/kept", "--out", "/no/sets/"});
  EXPECT_EQ(a.out, "/no/sets");
  EXPECT_TRUE(mentions(error([](const Args& x) { check_augment_inputs(parse_augment_flags(x)); },
                             {"--generated", "/no/kept", "--out", "/no/sets"}),
                       "--generated: no such folder '/no/kept'"));
  // --help skips the other checks (the app prints the usage and exits 0).
  EXPECT_TRUE(parse_generate_flags({"--help"}).help);
}

TEST(TrainingAppFlags, Gan) {
  const GanFlags f = parse_gan_flags({"--loss", "bce", "--g-widths", "64,32,16,8", "--lr", "0.01"});
  EXPECT_EQ(f.train.loss, "bce");
  EXPECT_EQ(f.train.n_critic, 1);  // the loss's default
  EXPECT_DOUBLE_EQ(f.train.g_lr, 0.01);
  EXPECT_EQ(f.train.generator.stage_filters, (std::vector<int64_t>{64, 32, 16, 8}));
  const auto parse = parse_gan_flags;
  EXPECT_TRUE(mentions(error(parse, {"--g-widths", "64,32,16"}), "--g-widths: 3 stages make 32x32"));
  EXPECT_EQ(error(parse, {"--d-widths", "16,0"}), "--d-widths: widths must be in [1, 65536], got 0");
  EXPECT_TRUE(mentions(error(parse, {"--d-widths", "16,,32"}), "(an empty item)"));
  EXPECT_EQ(error(parse, {"--batch", "1"}), "--batch must be in [2, 65536], got 1");
  EXPECT_EQ(error(parse, {"--loss", "bce", "--gp-weight", "5"}),
            "--gp-weight is only used with --loss wgan-gp");
}

// --exact-fp32 (apps/math_mode.h): both training apps read it the same way, off by default
// (TF32 on CUDA), and list it in --help.
TEST(TrainingAppFlags, ExactFp32) {
  EXPECT_FALSE(parse_classifier_flags({"--device", "cuda"}).exact_fp32);
  EXPECT_TRUE(parse_classifier_flags({"--device", "cuda", "--exact-fp32"}).exact_fp32);
  EXPECT_FALSE(parse_gan_flags({"--device", "cuda"}).exact_fp32);
  EXPECT_TRUE(parse_gan_flags({"--exact-fp32", "--device", "cuda"}).exact_fp32);
  for (const char* usage : {kClassifierUsage, kGanUsage}) {
    EXPECT_TRUE(mentions(usage, "--exact-fp32             exact fp32 math on CUDA (default there: TF32"))
        << usage;
  }
  EXPECT_TRUE(mentions(error(parse_classifier_flags, {"--exact-fp32=1"}), "--exact-fp32"));
  EXPECT_TRUE(mentions(error(parse_gan_flags, {"--exact-fp32=yes"}), "--exact-fp32"));
}

// --precision fp32|tf32|bf16 (apps/math_mode.h): fp32 is --exact-fp32's meaning, both apps read
// it, and a contradiction with --exact-fp32 is an error naming both, in either order.
TEST(TrainingAppFlags, Precision) {
  EXPECT_EQ(parse_classifier_flags({}).precision, "");
  EXPECT_EQ(parse_classifier_flags({"--precision", "bf16"}).precision, "bf16");
  EXPECT_FALSE(parse_classifier_flags({"--precision", "bf16"}).exact_fp32);
  EXPECT_TRUE(parse_gan_flags({"--precision", "fp32"}).exact_fp32);
  EXPECT_EQ(parse_gan_flags({"--precision", "tf32"}).precision, "tf32");
  EXPECT_TRUE(parse_classifier_flags({"--exact-fp32", "--precision", "fp32"}).exact_fp32);
  for (const auto& args : {std::vector<std::string>{"--exact-fp32", "--precision", "bf16"},
                           std::vector<std::string>{"--precision", "tf32", "--exact-fp32"}}) {
    for (const std::string& e : {error(parse_classifier_flags, args), error(parse_gan_flags, args)}) {
      EXPECT_TRUE(mentions(e, "--exact-fp32")) << e;
      EXPECT_TRUE(mentions(e, "--precision")) << e;
    }
  }
  EXPECT_TRUE(mentions(error(parse_gan_flags, {"--precision", "fp16"}), "bf16"));
  for (const char* usage : {kClassifierUsage, kGanUsage})
    EXPECT_TRUE(mentions(usage, "--precision fp32|tf32|bf16")) << usage;
  EXPECT_EQ(apps::use_math_mode(Device::cpu(), false, "bf16"), "bf16");
  EXPECT_EQ(apps::use_math_mode(Device::cpu(), false, "tf32"), "fp32");
  EXPECT_EQ(apps::precision_of("bf16"), Precision::BFloat16);
  EXPECT_EQ(apps::precision_of("tf32"), Precision::Float32);
  EXPECT_TRUE(mentions(apps::math_mode_note("bf16"), "bf16"));
}

TEST(TrainingAppFlags, GenerateAugmentQuality) {
  const Args files = {"--generator", "g", "--classifier", "c"};
  auto generate = [&](Args extra) {
    extra.insert(extra.begin(), files.begin(), files.end());
    return error(parse_generate_flags, extra);
  };
  EXPECT_EQ(generate({"--classes", "SeaLake,River"}), "");
  EXPECT_TRUE(mentions(generate({"--classes", "Rivers"}), "--classes: unknown class 'Rivers'"));
  EXPECT_EQ(generate({"--classes", "River,River"}), "--classes: 'River' given twice");
  EXPECT_TRUE(mentions(generate({"--classes", ""}), "--classes: expected a comma-separated list"));
  EXPECT_EQ(error(parse_generate_flags, {"--classifier", "c"}), "--generator FILE is required");

  const Args sets = {"--generated", "k", "--out", "o"};
  auto augment = [&](Args extra) {
    extra.insert(extra.begin(), sets.begin(), sets.end());
    return error(parse_augment_flags, extra);
  };
  EXPECT_EQ(parse_augment_flags({"--generated", "k", "--out", "o", "--sizes", "2,4"}).sizes,
            (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(augment({"--sizes", "0"}), "--sizes: sizes must be positive, got 0");
  EXPECT_TRUE(mentions(augment({"--sizes", ""}), "--sizes: expected a comma-separated list"));
  EXPECT_TRUE(mentions(augment({"--classes", ""}), "--classes: expected a comma-separated list"));

  const Args nets = {"--generator", "g", "--features-classifier", "f"};
  auto quality = [&](Args extra) {
    extra.insert(extra.begin(), nets.begin(), nets.end());
    return error(parse_quality_flags, extra);
  };
  EXPECT_EQ(quality({"--classes", "Highway"}), "");
  EXPECT_EQ(quality({"--count", "1"}), "--count must be in [2, 1000000], got 1");
  EXPECT_TRUE(mentions(quality({"--classes", "Rivers"}), "--classes: unknown class 'Rivers'"));
}

}  // namespace
}  // namespace ember
