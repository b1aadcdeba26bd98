// The EfficientNet model (models/efficientnet.h) against Keras's EfficientNetB2 and the block
// table: trainable parameters 7,715,084 with 10 classes (torchvision's efficientnet_b2 has the
// same), every weight's shape from models/efficientnet_config.h, Keras layer names, Keras
// initialiser spreads, the summary table, output shape and eval determinism at 64x64, drop-connect
// in training mode, gradients reaching every parameter, the symmetric-padding option, the input
// preprocessing by hand, and a float64 finite-difference check of a two-block network built by
// the same code (input and parameter gradients, eval and training mode).
// Run: ember_tests --gtest_filter='EfficientNet.*'.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>

#include "models/efficientnet.h"
#include "ops/ops.h"
#include "tests/expect_error.h"
#include "tests/gradcheck.h"
#include "tests/tiny_efficientnet.h"

namespace ember::models {
namespace {

// One B2 for the tests that only read it (building one draws 7.7M weights).
EfficientNet& b2() {
  static RandomGenerator gen(2024);
  static std::shared_ptr<EfficientNet> model = efficientnet_b2(gen, 10);
  return *model;
}

std::map<std::string, Tensor> as_map(const nn::NamedTensors& named) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : named) out[name] = t;
  return out;
}

// The shared two-block network (tests/tiny_efficientnet.h) with dropout, and drop-connect on
// block2a's residual (0.2 * 1 / 2).
EfficientNetConfig tiny_config() {
  EfficientNetConfig c = testing::tiny_efficientnet_config();
  c.dropout_rate = 0.3;
  c.drop_connect_rate = 0.2;
  return c;
}

// Images with values in 0..255.
Tensor images(const Shape& shape, uint64_t seed, DType dtype = DType::Float32) {
  RandomGenerator g(seed);
  return rand_uniform(shape, g, {.dtype = dtype}, 0.0, 255.0);
}

TEST(EfficientNet, B2ParameterCountsMatchKeras) {
  const EfficientNet& m = b2();
  // Keras's EfficientNetB2(include_top=False) + Dense(10), and torchvision's efficientnet_b2
  // with 10 classes: 7,715,084 trainable.
  EXPECT_EQ(m.num_trainable_parameters(), 7715084);
  const EfficientNetParamCount table = efficientnet_param_count(m.config(), 10);
  EXPECT_EQ(m.num_trainable_parameters(), table.trainable());
  // Non-trainable: the BN moving mean and variance (half the BN count) and the normalisation's
  // mean[3] and variance[3] (Keras's count of 67,575 for B2 adds its Normalization's `count`).
  EXPECT_EQ(table.batch_norm / 2, 67575 - 7);
  EXPECT_EQ(m.num_non_trainable_parameters(), table.batch_norm / 2 + 6);
  EXPECT_EQ(m.num_parameters(), 7715084);  // Module counts parameters() only
  EXPECT_EQ(m.blocks().size(), 23u);
}

TEST(EfficientNet, B2WeightShapesFollowTheTable) {
  const std::map<std::string, Tensor> params = as_map(b2().named_parameters());
  size_t conv_tensors = 0;
  for (const EfficientNetConv& c : efficientnet_convs(b2().config(), 1, 64, 64)) {
    const auto w = params.find(c.name + ".weight");
    ASSERT_NE(w, params.end()) << c.name;
    EXPECT_EQ(w->second.shape(), c.weight_shape()) << c.name;
    const auto b = params.find(c.name + ".bias");
    EXPECT_EQ(b != params.end(), c.has_bias) << c.name;
    if (b != params.end()) {
      EXPECT_EQ(b->second.shape(), (Shape{c.K})) << c.name;
    }
    conv_tensors += c.has_bias ? 2 : 1;
    if (c.has_batch_norm) {
      // Keras names a conv's BN after the conv: stem_conv/stem_bn, blockNx_expand_conv/
      // blockNx_expand_bn, blockNx_dwconv/blockNx_bn, blockNx_project_conv/blockNx_project_bn.
      std::string bn = c.name;
      if (c.role == ConvRole::Depthwise) bn.replace(bn.size() - 6, 6, "bn");
      else bn.replace(bn.size() - 4, 4, "bn");
      ASSERT_TRUE(params.count(bn + ".weight")) << bn;
      EXPECT_EQ(params.at(bn + ".weight").shape(), (Shape{c.K})) << bn;
      EXPECT_EQ(params.at(bn + ".bias").shape(), (Shape{c.K})) << bn;
      conv_tensors += 2;
    }
  }
  EXPECT_EQ(params.at("predictions.weight").shape(), (Shape{10, 1408}));
  EXPECT_EQ(params.at("predictions.bias").shape(), (Shape{10}));
  EXPECT_EQ(params.size(), conv_tensors + 2);  // nothing else
}

TEST(EfficientNet, KerasLayerNames) {
  const std::map<std::string, Tensor> params = as_map(b2().named_parameters());
  for (const char* name :
       {"stem_conv.weight", "stem_bn.weight", "stem_bn.bias", "block1a_dwconv.weight",
        "block1a_bn.weight", "block1a_se_reduce.weight", "block1a_se_reduce.bias",
        "block1a_se_expand.weight", "block1a_se_expand.bias", "block1a_project_conv.weight",
        "block1a_project_bn.weight", "block1b_dwconv.weight", "block2a_expand_conv.weight",
        "block2a_expand_bn.bias", "block2b_se_reduce.weight", "block6e_dwconv.weight",
        "block7b_project_bn.bias", "top_conv.weight", "top_bn.weight", "top_bn.bias",
        "predictions.weight", "predictions.bias"})
    EXPECT_TRUE(params.count(name)) << name;
  // block1a/1b have expand ratio 1: no expansion layer.
  EXPECT_FALSE(params.count("block1a_expand_conv.weight"));
  EXPECT_FALSE(params.count("block1b_expand_conv.weight"));
  EXPECT_EQ(params.at("block2b_se_reduce.weight").shape(), (Shape{6, 1, 1, 144}));

  const std::map<std::string, Tensor> buffers = as_map(b2().named_buffers());
  for (const char* name : {"normalization.mean", "normalization.variance",
                           "stem_bn.running_mean", "stem_bn.running_var",
                           "block3c_project_bn.running_var", "top_bn.running_mean"})
    EXPECT_TRUE(buffers.count(name)) << name;
  // Parameters come in Keras's layer order.
  const nn::NamedTensors named = b2().named_parameters();
  EXPECT_EQ(named.front().first, "stem_conv.weight");
  EXPECT_EQ(named.back().first, "predictions.bias");

  // Without preprocessing there is no normalisation layer (torchvision's layout).
  RandomGenerator gen(1);
  EfficientNet plain(tiny_config(), 3, gen, {.include_preprocessing = false});
  for (const auto& [name, t] : plain.named_buffers())
    EXPECT_EQ(name.find("normalization"), std::string::npos) << name;
}

// Keras's CONV_KERNEL_INITIALIZER, VarianceScaling(2, fan_out, truncated_normal): std
// sqrt(2 / fan_out), nothing beyond two of the untruncated normal's sigma; DENSE_KERNEL_
// INITIALIZER, VarianceScaling(1/3, fan_out, uniform): U(-sqrt(1 / classes), +).
TEST(EfficientNet, KerasInitialiserSpreads) {
  const std::map<std::string, Tensor> params = as_map(b2().named_parameters());
  auto stats = [](const Tensor& t) {
    const std::vector<float> v = t.to_vector<float>();
    double s = 0, s2 = 0, mx = 0;
    for (float x : v) s += x, s2 += double(x) * x, mx = std::max(mx, std::abs(double(x)));
    const double n = static_cast<double>(v.size());
    return std::array<double, 3>{s / n, std::sqrt(s2 / n - (s / n) * (s / n)), mx};
  };
  // fan_out: top_conv [1408, 1, 1, 352] -> 1408; block6a_dwconv (depthwise 5x5) -> 25, as
  // Keras's DepthwiseConv2D kernel [5, 5, C, 1]; stem [32, 3, 3, 3] -> 288.
  for (const auto& [name, fan_out] : std::vector<std::pair<std::string, double>>{
           {"top_conv.weight", 1408.0}, {"block6a_dwconv.weight", 25.0},
           {"stem_conv.weight", 288.0}}) {
    const auto [mean, std, max] = stats(params.at(name));
    const double expect = std::sqrt(2.0 / fan_out);
    EXPECT_NEAR(std, expect, 0.08 * expect) << name;
    EXPECT_NEAR(mean, 0.0, 0.1 * expect) << name;
    EXPECT_LE(max, 2.0 * expect / 0.87962566103423978 + 1e-6) << name;
  }
  const auto [mean, std, max] = stats(params.at("predictions.weight"));
  const double limit = std::sqrt(1.0 / 10.0);
  EXPECT_LE(max, limit);
  EXPECT_NEAR(std, limit / std::sqrt(3.0), 0.05 * limit);
  EXPECT_EQ(stats(params.at("block1a_se_reduce.bias"))[2], 0.0);  // zero biases
  EXPECT_EQ(stats(params.at("predictions.bias"))[2], 0.0);
}

TEST(EfficientNet, DropConnectRatesScaleWithBlockIndex) {
  const EfficientNet& m = b2();
  for (size_t i = 0; i < 23; ++i) EXPECT_DOUBLE_EQ(m.drop_connect_rate(i), 0.2 * i / 23.0);
  EXPECT_DOUBLE_EQ(m.dropout_rate(), 0.3);
  EXPECT_ERROR_MENTIONS(m.drop_connect_rate(23), "out of range");
}

TEST(EfficientNet, SummaryTable) {
  const std::vector<EfficientNetSummaryRow> rows = b2().summary_rows(64, 64);
  std::map<std::string, EfficientNetSummaryRow> by_name;
  int64_t total = 0;
  for (const EfficientNetSummaryRow& r : rows) {
    EXPECT_TRUE(by_name.emplace(r.name, r).second) << "duplicate row " << r.name;
    total += r.params;
  }
  EXPECT_EQ(total, b2().num_trainable_parameters() + b2().num_non_trainable_parameters());
  EXPECT_EQ(rows.front().name, "input");
  EXPECT_EQ(rows.back().name, "predictions");
  EXPECT_EQ(by_name.at("stem_conv").output, (Shape{-1, 32, 32, 32}));
  EXPECT_EQ(by_name.at("stem_conv").params, 3 * 3 * 3 * 32);
  EXPECT_EQ(by_name.at("stem_bn").params, 4 * 32);  // gamma, beta, moving mean and variance
  EXPECT_EQ(by_name.at("normalization").params, 6);
  EXPECT_EQ(by_name.at("block2b_se_reduce").output, (Shape{-1, 1, 1, 6}));
  EXPECT_EQ(by_name.at("block2b_se_reduce").params, 144 * 6 + 6);
  EXPECT_EQ(by_name.at("block2b_se_excite").output, (Shape{-1, 16, 16, 144}));
  EXPECT_EQ(by_name.at("block3a_dwconv").output, (Shape{-1, 8, 8, 144}));
  EXPECT_EQ(by_name.at("block3a_dwconv").type, "DepthwiseConv2D");
  EXPECT_EQ(by_name.at("top_conv").output, (Shape{-1, 2, 2, 1408}));
  EXPECT_EQ(by_name.at("avg_pool").output, (Shape{-1, 1408}));
  EXPECT_EQ(by_name.at("predictions").output, (Shape{-1, 10}));
  EXPECT_EQ(by_name.at("predictions").params, 1408 * 10 + 10);
  // Residual blocks end in an Add; block1b is the first (block1a's drop rate 0 has no row).
  EXPECT_TRUE(by_name.count("block1b_add"));
  EXPECT_TRUE(by_name.count("block1b_drop"));
  EXPECT_FALSE(by_name.count("block2a_add"));
  EXPECT_FALSE(by_name.count("block1a_expand_conv"));
  // Every convolution's output (the SE ones aside) matches the table at this size.
  for (const EfficientNetConv& c : efficientnet_convs(b2().config(), 1, 64, 64)) {
    if (c.role == ConvRole::SeReduce || c.role == ConvRole::SeExpand) continue;
    EXPECT_EQ(by_name.at(c.name).output, (Shape{-1, c.P, c.Q, c.K})) << c.name;
  }

  const std::string text = b2().summary(64, 64);
  EXPECT_NE(text.find("stem_conv (Conv2D)"), std::string::npos) << text;
  EXPECT_NE(text.find("(None, 32, 32, 32)"), std::string::npos);
  EXPECT_NE(text.find("Trainable params: 7,715,084"), std::string::npos);
  EXPECT_NE(text.find("Non-trainable params: 67,574"), std::string::npos);
  EXPECT_NE(text.find("Total params: 7,782,658"), std::string::npos);
  EXPECT_ERROR_MENTIONS(b2().summary(0, 64), "positive input size");
}

TEST(EfficientNet, B2OutputShapeAndEvalIsDeterministic) {
  EfficientNet& m = b2();
  m.eval();
  const Tensor x = images({2, 64, 64, 3}, 5);
  const std::vector<float> mean_before = m.named_buffers()[2].second.to_vector<float>();
  Tensor a, b;
  {
    NoGradGuard no_grad;
    a = m(x);
    b = m(x);
    EXPECT_EQ(m.features(x).shape(), (Shape{2, 1408}));
  }
  EXPECT_EQ(a.shape(), (Shape{2, 10}));
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());  // bit for bit
  for (float v : a.to_vector<float>()) EXPECT_TRUE(std::isfinite(v));
  // The two images get different logits, and eval mode leaves the BN statistics alone.
  EXPECT_GT(max_abs_diff(a.slice(0, 0, 1), a.slice(0, 1, 2)), 1e-6);
  EXPECT_EQ(m.named_buffers()[2].second.to_vector<float>(), mean_before);
  m.train();
}

// Training mode: with the top dropout off, the only randomness left is drop-connect, so the
// output depends on the generator's state exactly when the drop-connect rate is not zero.
TEST(EfficientNet, TrainingModeUsesDropConnect) {
  const Tensor x = images({2, 32, 32, 3}, 6);
  auto run = [&](EfficientNet& m, uint64_t seed) {
    NoGradGuard no_grad;
    m.generator().set_state(seed, 0);
    return m(x).to_vector<float>();
  };
  // A high rate, so that some sample's residual branch is dropped in some block for sure.
  RandomGenerator gen(3);
  EfficientNet m(efficientnet_b2_config(), 10, gen,
                 {.drop_connect_rate = 0.9, .dropout_rate = 0.0});
  m.train();
  const std::vector<float> a = run(m, 100), again = run(m, 100), b = run(m, 101);
  EXPECT_EQ(a, again);  // the same masks: the same output
  EXPECT_NE(a, b);
  // Eval mode ignores the state.
  m.eval();
  EXPECT_EQ(run(m, 100), run(m, 101));

  // Rate 0 (the small network is enough here): no randomness left in training mode.
  RandomGenerator gen0(3);
  EfficientNet none(tiny_config(), 10, gen0, {.drop_connect_rate = 0.0, .dropout_rate = 0.0});
  none.train();
  EXPECT_EQ(run(none, 100), run(none, 101));
}

TEST(EfficientNet, BackwardReachesEveryParameter) {
  RandomGenerator gen(4);
  EfficientNet m(efficientnet_b2_config(), 10, gen, {.drop_connect_rate = 0.0});
  m.train();
  const Tensor x = images({2, 64, 64, 3}, 7);
  const Tensor target = from_vector<int64_t>({3, 8}, {2}, {.dtype = DType::Int64});
  const Tensor loss = cross_entropy(m(x), target);
  loss.backward();
  EXPECT_TRUE(std::isfinite(loss.item<float>()));
  size_t checked = 0;
  for (const auto& [name, p] : m.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    const std::vector<float> g = p.grad().to_vector<float>();
    double norm = 0;
    for (float v : g) norm += double(v) * v;
    EXPECT_TRUE(std::isfinite(norm)) << name;
    EXPECT_GT(norm, 0.0) << name;
    ++checked;
  }
  EXPECT_EQ(checked, m.named_parameters().size());
}

// Symmetric padding keeps every output size (ceil(H / stride) for odd kernels, any H) but moves
// the odd padding pixel of a stride-2 convolution on an even input to both sides; on odd inputs
// TF 'same' is already symmetric, and the two networks compute the same function.
TEST(EfficientNet, SymmetricPaddingOption) {
  // The shared B2 and a symmetric one from the same seed: the same weights (checked below).
  EfficientNet& same = b2();
  RandomGenerator gen(b2().generator().seed());
  EfficientNet sym(efficientnet_b2_config(), 10, gen, {.padding = EfficientNetPadding::Symmetric});
  for (int64_t size : {64, 65, 33, 100, 7}) {
    const auto rows_same = same.summary_rows(size, size + 1);
    const auto rows_sym = sym.summary_rows(size, size + 1);
    ASSERT_EQ(rows_same.size(), rows_sym.size());
    for (size_t i = 0; i < rows_same.size(); ++i)
      EXPECT_EQ(rows_same[i].output, rows_sym[i].output) << rows_same[i].name << " at " << size;
  }
  const auto stem_out = [](const EfficientNet& m, int64_t h) {
    for (const auto& r : m.summary_rows(h, h))
      if (r.name == "stem_conv") return r.output[1];
    return int64_t{-1};
  };
  // ceil(H / 2) either way; PyTorch's floor((H + 2 - 3) / 2) + 1 is the same number.
  EXPECT_EQ(stem_out(sym, 64), 32);
  EXPECT_EQ(stem_out(sym, 65), 33);
  EXPECT_EQ(stem_out(same, 65), 33);

  // Same seed, same weights.
  const auto ps = same.named_parameters(), pm = sym.named_parameters();
  ASSERT_EQ(ps.size(), pm.size());
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_EQ(max_abs_diff(ps[i].second, pm[i].second), 0.0);
  same.eval();
  sym.eval();
  NoGradGuard no_grad;
  // 33 -> 17 -> 9 -> 5 -> 3 -> 2: every stride-2 layer reads an odd size, where TF 'same' pads
  // (k - 1) / 2 on both sides too. Same function.
  // Compared on the pooled features, relative to their size (the logits of a fresh network are
  // small).
  const auto relative_diff = [&](const Tensor& x) {
    const Tensor a = same.features(x), b = sym.features(x);
    return max_abs_diff(a, b) / max_abs_diff(a, zeros_like(a));
  };
  EXPECT_LT(relative_diff(images({1, 33, 33, 3}, 11)), 1e-5);
  // Even input: the stem pads 0/1 (TF) versus 1/1, a different function of the same weights.
  EXPECT_GT(relative_diff(images({1, 32, 32, 3}, 11)), 1e-2);
  same.train();
}

TEST(EfficientNet, PreprocessingByHand) {
  // Keras: (x / 255 - mean) / sqrt(variance) with ImageNet statistics.
  Normalization norm(imagenet_mean(), imagenet_variance());
  Rescaling rescale(1.0 / 255.0);
  const Tensor x = from_vector<float>({255, 0, 127.5f}, {1, 1, 1, 3});
  const std::vector<float> y = norm(rescale(x)).to_vector<float>();
  EXPECT_NEAR(y[0], (1.0 - 0.485) / 0.229, 1e-5);
  EXPECT_NEAR(y[1], (0.0 - 0.456) / 0.224, 1e-5);
  EXPECT_NEAR(y[2], (0.5 - 0.406) / 0.225, 1e-5);
  EXPECT_ERROR_MENTIONS(norm(zeros({1, 2, 2, 4})), "3 channels");

  // The model with preprocessing on raw pixels equals the model without it on normalised
  // inputs (same seed, so the same weights), and uint8 pixels are accepted as they are.
  RandomGenerator g1(5), g2(5);
  EfficientNet with(tiny_config(), 4, g1);
  EfficientNet without(tiny_config(), 4, g2, {.include_preprocessing = false});
  with.eval();
  without.eval();
  NoGradGuard no_grad;
  const Tensor pixels = from_vector<float>(
      [] {
        std::vector<float> v(2 * 8 * 8 * 3);
        for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 37) % 256);
        return v;
      }(),
      {2, 8, 8, 3});
  const Tensor normalised = norm(rescale(pixels));
  EXPECT_LT(max_abs_diff(with(pixels), without(normalised)), 1e-6);
  EXPECT_LT(max_abs_diff(with(pixels), with(pixels.to(DType::UInt8))), 1e-6);
}

TEST(EfficientNet, RejectsBadInput) {
  RandomGenerator gen(1);
  EfficientNet m(tiny_config(), 3, gen);
  EXPECT_ERROR_MENTIONS(m(zeros({2, 8, 8, 4})), "NHWC RGB");
  EXPECT_ERROR_MENTIONS(m(zeros({8, 8, 3})), "NHWC RGB");
  EXPECT_ERROR_MENTIONS(EfficientNet(tiny_config(), 0, gen), "num_classes");
  EXPECT_ERROR_MENTIONS(EfficientNet(tiny_config(), 3, gen, {.drop_connect_rate = 1.0}),
                        "drop_connect_rate");
  EXPECT_ERROR_MENTIONS(EfficientNet(tiny_config(), 3, gen, {.dropout_rate = -0.1}),
                        "dropout_rate");
  EXPECT_ERROR_MENTIONS(EfficientNet(tiny_config(), 3, gen, {.bn_eps = 0.0}), "bn_eps");
  EfficientNetConfig broken = tiny_config();
  broken.stages[1].filters_in = 16;
  EXPECT_ERROR_MENTIONS(EfficientNet(broken, 3, gen), "block2a expects 16 input channels");
}

// ---------------------------------------------------------------------------------------------
// Finite differences on the two-block network, in float64.

struct TinyNet {
  RandomGenerator gen{21};
  std::shared_ptr<EfficientNet> model;
  Tensor x;
  explicit TinyNet(bool training, EfficientNetOptions options = {}) {
    model = std::make_shared<EfficientNet>(tiny_config(), 3, gen, options);
    model->to(DType::Float64);
    model->train(training);
    x = testing::random_input({2, 8, 8, 3}, 3, 0.0, 255.0);
  }
  // The masks are drawn from a generator reset on every call, so that each evaluation sees the
  // same drop-connect and dropout decisions.
  Tensor run(const Tensor& input) {
    gen.set_state(77, 0);
    return model->forward(input);
  }
};

TEST(EfficientNet, TinyGradcheckInputEval) {
  TinyNet net(/*training=*/false);
  EXPECT_EQ(net.model->blocks().size(), 2u);
  EXPECT_TRUE(net.model->blocks()[1].has_residual());
  EXPECT_GRADCHECK([&](const TensorList& xs) { return net.run(xs[0]); }, {net.x},
                   {.atol = 1e-7, .rtol = 1e-5});
}

TEST(EfficientNet, TinyGradcheckInputTraining) {
  // Training mode: BN on batch statistics, dropout and drop-connect (raised so that block2a,
  // at 0.8 * 1 / 2 = 0.4, really drops).
  TinyNet net(/*training=*/true, {.drop_connect_rate = 0.8});
  EXPECT_DOUBLE_EQ(net.model->drop_connect_rate(1), 0.4);
  EXPECT_GRADCHECK([&](const TensorList& xs) { return net.run(xs[0]); }, {net.x},
                   {.atol = 1e-7, .rtol = 1e-5});
}

// Parameter gradients by central differences on a few elements of every parameter (the model
// holds its parameters, so they are perturbed in place).
void check_parameter_gradients(TinyNet& net) {
  RandomGenerator rg(8);
  const Tensor probe = net.run(net.x);
  const Tensor R = rand_normal(probe.shape(), rg, {.dtype = DType::Float64});
  const auto loss = [&] { return sum(mul(net.run(net.x.detach()), R)); };
  net.model->zero_grad(true);
  loss().backward();
  const double eps = 1e-6;
  for (const auto& [name, p] : net.model->named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    const std::vector<double> analytic = p.grad().to_vector<double>();
    double* data = p.data<double>();
    for (int64_t j : {int64_t{0}, p.numel() / 2, p.numel() - 1}) {
      const double saved = data[j];
      double values[2];
      for (int side = 0; side < 2; ++side) {
        data[j] = saved + (side == 0 ? eps : -eps);
        p.bump_version();
        NoGradGuard no_grad;
        values[side] = loss().item<double>();
      }
      data[j] = saved;
      p.bump_version();
      const double numeric = (values[0] - values[1]) / (2 * eps);
      EXPECT_NEAR(analytic[j], numeric, 1e-6 + 1e-5 * std::abs(numeric)) << name << "[" << j << "]";
    }
  }
}

TEST(EfficientNet, TinyParameterGradientsEval) {
  TinyNet net(/*training=*/false);
  check_parameter_gradients(net);
}

TEST(EfficientNet, TinyParameterGradientsTraining) {
  TinyNet net(/*training=*/true, {.drop_connect_rate = 0.8});
  check_parameter_gradients(net);
}

}  // namespace
}  // namespace ember::models
