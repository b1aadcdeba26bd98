// models::load_pretrained_backbone (models/pretrained.h) on files written from a model with
// save_module: the backbone copied exactly and the head kept, in both directions of a class
// count change; notop files; each mismatch (missing, extra, shape, normalisation, padding,
// BN epsilon in the metadata) an error naming the problem that leaves the model unchanged.
// A two-block network built by the EfficientNet code keeps it fast.
// Run: ember_tests --gtest_filter='Pretrained.*'.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "models/pretrained.h"
#include "ops/ops.h"
#include "tests/expect_error.h"
#include "tests/temp_dir.h"
#include "tests/tiny_efficientnet.h"

namespace ember::models {
namespace {

namespace fs = std::filesystem;
using testing::expect_error;

// Temporary folders named after this file's tests (tests/temp_dir.h).
struct TempDir : testing::TempDir {
  TempDir() : testing::TempDir("pretrained") {}
};

std::shared_ptr<EfficientNet> tiny(uint64_t seed, int64_t classes,
                                   const EfficientNetOptions& options = {}) {
  static std::map<uint64_t, std::unique_ptr<RandomGenerator>> gens;  // must outlive the models
  auto& gen = gens[seed];
  gen = std::make_unique<RandomGenerator>(seed);
  return std::make_shared<EfficientNet>(testing::tiny_efficientnet_config(), classes, *gen, options);
}

std::map<std::string, std::vector<float>> values(const nn::Module& m) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& [name, t] : nn::module_state(m)) out[name] = t.to_vector<float>();
  return out;
}

// Distinct running statistics, so a file's buffers differ from a fresh model's ones and zeros.
void perturb_buffers(nn::Module& m, uint64_t seed) {
  RandomGenerator g(seed);
  for (const Tensor& t : m.buffers()) copy_(t, add_scalar(rand_uniform(t.shape(), g), 0.5));
}

nn::NamedTensors without(const nn::NamedTensors& in, const std::string& name) {
  nn::NamedTensors out;
  for (const auto& e : in)
    if (e.first != name) out.push_back(e);
  return out;
}

TEST(Pretrained, LoadsTheBackboneAndKeepsTheHead) {
  TempDir dir;
  auto source = tiny(1, 1000);  // an ImageNet-sized head
  perturb_buffers(*source, 11);
  nn::save_module(*source, dir.file("w.safetensors"), {{"source", "test"}});
  auto model = tiny(2, 10);
  const auto before = values(*model);
  const auto from = values(*source);

  const PretrainedReport r = load_pretrained_backbone(*model, dir.file("w.safetensors"));
  const auto after = values(*model);
  ASSERT_EQ(after.size(), before.size());
  int64_t copied = 0;
  for (const auto& [name, v] : after) {
    if (is_classifier_head(name)) {
      EXPECT_EQ(v, before.at(name)) << name << " must keep the model's own values";
    } else {
      EXPECT_EQ(v, from.at(name)) << name;
      ++copied;
    }
  }
  // Stem, 2 blocks (the first without expansion), top: every tensor except the head's two.
  EXPECT_EQ(copied, static_cast<int64_t>(before.size()) - 2);
  EXPECT_EQ(static_cast<int64_t>(r.loaded.size()), copied);
  // skipped: in the file's data order (by name); kept: in the model's order.
  EXPECT_EQ(r.skipped, (std::vector<std::string>{"predictions.bias", "predictions.weight"}));
  EXPECT_EQ(r.kept, (std::vector<std::string>{"predictions.weight", "predictions.bias"}));
  EXPECT_EQ(r.metadata.at("source"), "test");
  EXPECT_NE(r.describe().find("skipped from the file: predictions.bias, predictions.weight"),
            std::string::npos)
      << r.describe();
  EXPECT_EQ(std::count(r.loaded.begin(), r.loaded.end(), "block2a_expand_bn.running_var"), 1);
}

TEST(Pretrained, LoadsANotopFileAndConvertsDtypes) {
  // A Keras notop conversion has no predictions at all; a float64 model takes float32 weights.
  TempDir dir;
  auto source = tiny(3, 10);
  perturb_buffers(*source, 12);
  nn::NamedTensors state = without(without(nn::module_state(*source), "predictions.weight"),
                                   "predictions.bias");
  nn::write_safetensors(dir.file("notop.safetensors"), state);
  auto model = tiny(4, 5);
  model->to(DType::Float64);
  const PretrainedReport r = load_pretrained_backbone(*model, dir.file("notop.safetensors"));
  EXPECT_TRUE(r.skipped.empty());
  EXPECT_EQ(r.kept.size(), 2u);
  EXPECT_EQ(r.loaded.size(), state.size());
  const auto from = values(*source);
  for (const auto& [name, t] : nn::module_state(*model)) {
    EXPECT_EQ(t.dtype(), DType::Float64) << name;
    if (!is_classifier_head(name)) {
      EXPECT_EQ(t.to_vector<float>(), from.at(name)) << name;
    }
  }
}

// Runs the load, expects an error with `parts`, and checks that the model did not change.
void expect_refused(EfficientNet& model, const std::string& path,
                    std::initializer_list<std::string> parts) {
  const auto before = values(model);
  expect_error([&] { load_pretrained_backbone(model, path); }, parts);
  EXPECT_EQ(values(model), before) << "a failed load must leave the model unchanged";
}

TEST(Pretrained, MissingExtraAndMisshapenTensorsAreErrorsNamingThem) {
  TempDir dir;
  auto source = tiny(5, 10);
  perturb_buffers(*source, 13);
  const nn::NamedTensors state = nn::module_state(*source);
  auto model = tiny(6, 10);

  nn::write_safetensors(dir.file("missing.safetensors"),
                        without(state, "block2a_se_reduce.bias"));
  expect_refused(*model, dir.file("missing.safetensors"),
                 {"load_pretrained_backbone", "missing", "block2a_se_reduce.bias"});

  nn::NamedTensors extra = state;
  extra.emplace_back("block9z_dwconv.weight", zeros({4, 3, 3, 1}));
  nn::write_safetensors(dir.file("extra.safetensors"), extra);
  expect_refused(*model, dir.file("extra.safetensors"), {"unexpected", "block9z_dwconv.weight"});

  nn::NamedTensors misshapen = without(state, "top_bn.running_mean");
  misshapen.emplace_back("top_bn.running_mean", zeros({17}));
  nn::write_safetensors(dir.file("shape.safetensors"), misshapen);
  expect_refused(*model, dir.file("shape.safetensors"),
                 {"shape mismatch", "top_bn.running_mean", "[17]", "[16]"});

  expect_refused(*model, dir.file("no_such.safetensors"), {"no_such.safetensors"});
}

TEST(Pretrained, InputNormalisationMismatchSaysWhichOptionToChange) {
  TempDir dir;
  auto keras_style = tiny(7, 10);  // include_preprocessing = true: normalization.* buffers
  auto torch_style = tiny(8, 10, {.include_preprocessing = false});
  nn::save_module(*keras_style, dir.file("keras.safetensors"));
  nn::save_module(*torch_style, dir.file("torch.safetensors"));
  expect_refused(*keras_style, dir.file("torch.safetensors"),
                 {"no normalization.mean/variance", "include_preprocessing = false",
                  "--imagenet-normalization"});
  expect_refused(*torch_style, dir.file("keras.safetensors"),
                 {"holds normalization.mean/variance", "include_preprocessing = true"});
  // The matching pairs load.
  EXPECT_EQ(load_pretrained_backbone(*tiny(9, 10), dir.file("keras.safetensors")).kept.size(), 2u);
  EXPECT_EQ(load_pretrained_backbone(*tiny(10, 10, {.include_preprocessing = false}),
                                     dir.file("torch.safetensors"))
                .kept.size(),
            2u);
}

TEST(Pretrained, ConverterMetadataMustMatchPaddingAndBnEpsilon) {
  TempDir dir;
  const EfficientNetOptions torch_options{.padding = EfficientNetPadding::Symmetric,
                                          .bn_eps = 1e-5,
                                          .include_preprocessing = false};
  auto source = tiny(11, 10, torch_options);
  const nn::SafetensorsMetadata torch_meta{{"source", "torchvision"},
                                           {"ember.padding", "symmetric"},
                                           {"ember.bn_eps", "1e-05"}};
  nn::save_module(*source, dir.file("tv.safetensors"), torch_meta);
  EXPECT_NO_THROW(load_pretrained_backbone(*tiny(12, 10, torch_options), dir.file("tv.safetensors")));

  EfficientNetOptions wrong_padding = torch_options;
  wrong_padding.padding = EfficientNetPadding::TfSame;
  expect_refused(*tiny(13, 10, wrong_padding), dir.file("tv.safetensors"),
                 {"converted from torchvision", "symmetric padding", "padding = Symmetric"});
  EfficientNetOptions wrong_eps = torch_options;
  wrong_eps.bn_eps = 1e-3;
  expect_refused(*tiny(14, 10, wrong_eps), dir.file("tv.safetensors"),
                 {"BatchNorm epsilon 1e-05", "bn_eps = 1e-05"});

  nn::save_module(*source, dir.file("bad.safetensors"), {{"ember.padding", "reflect"}});
  expect_refused(*tiny(15, 10, torch_options), dir.file("bad.safetensors"),
                 {"unknown ember.padding 'reflect'"});
}

}  // namespace
}  // namespace ember::models
