// nn layers and initialisers: Keras initialiser statistics and fans, each layer's parameters,
// output shapes (TensorFlow 'same' padding for convolutions and transposed convolutions), values
// against hand computations or an independent formula, train/eval behaviour, errors naming the
// layer, and a tiny CNN trained with SGD whose loss must fall.
// Needs the conv, norm, pool, index, activation, loss, linalg and random ops.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "nn/layers.h"
#include "ops/ops.h"
#include "optim/sgd.h"

namespace ember {
namespace {

using nn::init::Distribution;
using nn::init::FanMode;

struct Stats {
  double mean = 0, stddev = 0, max_abs = 0;
};

Stats stats_of(const Tensor& t) {
  const auto v = t.to_vector<double>();
  Stats s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  for (double x : v) {
    s.stddev += (x - s.mean) * (x - s.mean);
    s.max_abs = std::max(s.max_abs, std::abs(x));
  }
  s.stddev = std::sqrt(s.stddev / static_cast<double>(v.size()));
  return s;
}

std::vector<std::string> names_of(const nn::NamedTensors& named) {
  std::vector<std::string> names;
  for (const auto& entry : named) names.push_back(entry.first);
  return names;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

double dot(const Tensor& a, const Tensor& b) { return sum(mul(a, b)).item<double>(); }

// ---------------------------------------------------------------------------------------------
// Initialisers

TEST(NnInit, FansFollowTheOutputsFirstInputsLastRule) {
  const auto dense = nn::init::compute_fans({10, 4});  // [out, in]
  EXPECT_EQ(dense.in, 4);
  EXPECT_EQ(dense.out, 10);
  const auto conv = nn::init::compute_fans({16, 3, 5, 8});  // KRSC
  EXPECT_EQ(conv.in, 3 * 5 * 8);
  EXPECT_EQ(conv.out, 3 * 5 * 16);
  EXPECT_EQ(nn::init::compute_fans({7}).in, 7);
  EXPECT_EQ(nn::init::compute_fans({7}).out, 7);
  EXPECT_EQ(nn::init::compute_fans({}).in, 1);
}

TEST(NnInit, GlorotUniformStaysWithinItsLimit) {
  RandomGenerator gen(1);
  const Tensor w = nn::init::glorot_uniform()({64, 3, 3, 32}, gen);  // fan_in 288, fan_out 576
  const double limit = std::sqrt(6.0 / (288 + 576));
  const Stats s = stats_of(w);
  EXPECT_LE(s.max_abs, limit);
  EXPECT_GT(s.max_abs, 0.99 * limit);  // 18432 draws reach the edge
  EXPECT_NEAR(s.mean, 0.0, 0.02 * limit);
  EXPECT_NEAR(s.stddev, limit / std::sqrt(3.0), 0.02 * limit);
  EXPECT_EQ(w.dtype(), DType::Float32);
  EXPECT_FALSE(w.requires_grad());
}

TEST(NnInit, HeNormalHasTheKerasStdAndIsTruncatedAtTwoSigma) {
  RandomGenerator gen(2);
  const Tensor w = nn::init::he_normal()({128, 3, 3, 32}, gen);  // fan_in 288
  const double target = std::sqrt(2.0 / 288);                     // the variance Keras aims for
  const double sigma = target / 0.87962566103423978;              // the pre-truncation std
  const Stats s = stats_of(w);
  EXPECT_NEAR(s.stddev, target, 0.03 * target);
  EXPECT_LE(s.max_abs, 2.0 * sigma);
  EXPECT_GT(s.max_abs, 1.9 * sigma);
  EXPECT_NEAR(s.mean, 0.0, 0.03 * target);
}

// The other named Keras initialisers: each has its scale, fan and distribution (spread and
// bound checked on 36,864 draws).
TEST(NnInit, GlorotNormalHeUniformLecunNormalFollowTheirFormulas) {
  RandomGenerator gen(7);
  const Shape shape = {128, 3, 3, 32};  // fan_in 288, fan_out 1152, fan_avg 720
  constexpr double kTruncatedStd = 0.87962566103423978;  // std of N(0, 1) cut at +-2

  const double glorot_target = std::sqrt(1.0 / 720);
  const Stats glorot = stats_of(nn::init::glorot_normal()(shape, gen));
  EXPECT_NEAR(glorot.stddev, glorot_target, 0.03 * glorot_target);
  EXPECT_LE(glorot.max_abs, 2.0 * glorot_target / kTruncatedStd);
  EXPECT_NEAR(glorot.mean, 0.0, 0.03 * glorot_target);

  const double he_limit = std::sqrt(6.0 / 288);  // sqrt(3 * 2 / fan_in)
  const Stats he = stats_of(nn::init::he_uniform()(shape, gen));
  EXPECT_LE(he.max_abs, he_limit);
  EXPECT_GT(he.max_abs, 0.99 * he_limit);
  EXPECT_NEAR(he.stddev, he_limit / std::sqrt(3.0), 0.02 * he_limit);

  const double lecun_target = std::sqrt(1.0 / 288);
  const Stats lecun = stats_of(nn::init::lecun_normal()(shape, gen));
  EXPECT_NEAR(lecun.stddev, lecun_target, 0.03 * lecun_target);
  EXPECT_LE(lecun.max_abs, 2.0 * lecun_target / kTruncatedStd);
  EXPECT_GT(lecun.max_abs, 1.9 * lecun_target / kTruncatedStd);
}

TEST(NnInit, VarianceScalingModesAndDistributions) {
  RandomGenerator gen(3);
  const Shape shape = {100, 4, 4, 25};  // fan_in 400, fan_out 1600, fan_avg 1000
  const Stats fan_out = stats_of(nn::init::variance_scaling(
      2.0, FanMode::FanOut, Distribution::UntruncatedNormal)(shape, gen));
  EXPECT_NEAR(fan_out.stddev, std::sqrt(2.0 / 1600), 0.03 * std::sqrt(2.0 / 1600));
  // Untruncated: values beyond 2 sigma exist (4.6% of 40000).
  EXPECT_GT(fan_out.max_abs, 3.0 * std::sqrt(2.0 / 1600));
  const Stats avg = stats_of(nn::init::variance_scaling(
      1.0 / 3.0, FanMode::FanAvg, Distribution::Uniform)(shape, gen));
  const double limit = std::sqrt(3.0 * (1.0 / 3.0) / 1000);
  EXPECT_LE(avg.max_abs, limit);
  EXPECT_NEAR(avg.stddev, limit / std::sqrt(3.0), 0.03 * limit);
  // Explicit fans override the shape's.
  const Stats given = stats_of(nn::init::variance_scaling(
      1.0, FanMode::FanIn, Distribution::UntruncatedNormal)({40000}, {4.0, 4.0}, gen));
  EXPECT_NEAR(given.stddev, 0.5, 0.015);
}

TEST(NnInit, TruncatedNormalStaysWithinTwoStd) {
  RandomGenerator gen(4);
  const Tensor t = nn::init::truncated_normal(1.0, 0.5)({20000}, gen);
  const auto v = t.to_vector<double>();
  for (double x : v) {
    ASSERT_GE(x, 0.0);
    ASSERT_LE(x, 2.0);
  }
  EXPECT_NEAR(stats_of(t).mean, 1.0, 0.02);
  EXPECT_NEAR(stats_of(t).stddev, 0.5 * 0.87962566103423978, 0.02);
}

TEST(NnInit, ConstantsSeedsAndOptions) {
  RandomGenerator gen(5);
  EXPECT_EQ(nn::init::zeros()({3}, gen).to_vector<float>(), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(nn::init::ones()({2}, gen).to_vector<float>(), (std::vector<float>{1, 1}));
  EXPECT_EQ(nn::init::constant(2.5)({1}, gen).to_vector<float>(), (std::vector<float>{2.5f}));
  RandomGenerator a(7), b(7), c(8);
  const auto init = nn::init::he_normal();
  const Tensor wa = init({4, 4}, a), wb = init({4, 4}, b), wc = init({4, 4}, c);
  EXPECT_EQ(wa.to_vector<float>(), wb.to_vector<float>());
  EXPECT_NE(wa.to_vector<float>(), wc.to_vector<float>());
  EXPECT_NE(init({4, 4}, a).to_vector<float>(), wa.to_vector<float>());  // the stream advanced
  const Tensor w64 = init({4, 4}, a, {.dtype = DType::Float64, .requires_grad = true});
  EXPECT_EQ(w64.dtype(), DType::Float64);
  EXPECT_TRUE(w64.requires_grad());
  EXPECT_THROW(init({2}, a, {.dtype = DType::Int64}), Error);
  EXPECT_THROW(nn::init::random_uniform(1.0, 1.0), Error);
}

TEST(NnInit, SameValuesOnEveryDevice) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU visible (or a CPU-only build)";
  RandomGenerator a(9), b(9);
  const Tensor cpu = nn::init::he_normal()({32, 3, 3, 4}, a);
  const Tensor gpu = nn::init::he_normal()({32, 3, 3, 4}, b, {.device = Device::cuda()});
  EXPECT_TRUE(gpu.is_cuda());
  EXPECT_EQ(cpu.to_vector<float>(), gpu.to_vector<float>());
}

// ---------------------------------------------------------------------------------------------
// Linear

TEST(NnLinear, ComputesXWTransposePlusBias) {
  RandomGenerator gen(10);
  nn::Linear lin(3, 2, gen);
  EXPECT_EQ(names_of(lin.named_parameters()), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(lin.weight().shape(), (Shape{2, 3}));
  EXPECT_EQ(lin.bias().to_vector<float>(), (std::vector<float>{0, 0}));  // Keras: zeros
  copy_(lin.weight(), from_vector<float>({1, 2, 3, -1, 0, 1}, {2, 3}));
  copy_(lin.bias(), from_vector<float>({0.5, -0.5}, {2}));
  const Tensor x = from_vector<float>({1, 1, 1, 2, 0, -1}, {2, 3});
  // rows: [1+2+3+0.5, -1+0+1-0.5] and [2+0-3+0.5, -2+0-1-0.5]
  EXPECT_EQ(lin(x).to_vector<float>(), (std::vector<float>{6.5, -0.5, -0.5, -3.5}));
  // Leading axes pass through.
  EXPECT_EQ(lin(ones({4, 5, 3})).shape(), (Shape{4, 5, 2}));
}

TEST(NnLinear, GradientsReachItsParameters) {
  RandomGenerator gen(11);
  nn::Linear lin(3, 2, gen);
  lin.to(DType::Float64);
  const Tensor x = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}, {.dtype = DType::Float64});
  sum(lin(x)).backward();
  // d sum / dW[o][i] = sum_n x[n][i]; d sum / db[o] = N.
  EXPECT_EQ(lin.weight().grad().to_vector<double>(), (std::vector<double>{5, 7, 9, 5, 7, 9}));
  EXPECT_EQ(lin.bias().grad().to_vector<double>(), (std::vector<double>{2, 2}));
}

TEST(NnLinear, OptionsAndErrors) {
  RandomGenerator gen(12);
  nn::Linear lin(4, 3, gen, {.bias = false, .weight_init = nn::init::ones()});
  EXPECT_FALSE(lin.bias().defined());
  EXPECT_EQ(lin.num_parameters(), 12);
  EXPECT_EQ(lin(ones({1, 4})).to_vector<float>(), (std::vector<float>{4, 4, 4}));
  const std::string message = error_of([&] { lin(ones({2, 5})); });
  EXPECT_NE(message.find("Linear(4 -> 3, no bias)"), std::string::npos) << message;
  EXPECT_NE(message.find("[2, 5]"), std::string::npos) << message;
  EXPECT_THROW(nn::Linear(0, 3, gen), Error);
}

// ---------------------------------------------------------------------------------------------
// Convolutions

TEST(NnConv, SamePaddingFollowsTensorFlow) {
  RandomGenerator gen(13);
  nn::Conv2d conv(3, 8, 3, gen, {.stride = 2, .padding = nn::Padding2d::same()});
  EXPECT_EQ(conv.weight().shape(), (Shape{8, 3, 3, 3}));  // KRSC
  EXPECT_EQ(conv(zeros({2, 16, 16, 3})).shape(), (Shape{2, 8, 8, 8}));
  EXPECT_EQ(conv(zeros({1, 15, 9, 3})).shape(), (Shape{1, 8, 5, 8}));
  // 16 rows, stride 2, kernel 3: total padding 1, all of it at the bottom.
  const Conv2dParams even = conv.params_for(16, 16);
  EXPECT_EQ(even.pad_top, 0);
  EXPECT_EQ(even.pad_bottom, 1);
  const Conv2dParams odd = conv.params_for(15, 15);
  EXPECT_EQ(odd.pad_top, 1);
  EXPECT_EQ(odd.pad_bottom, 1);
}

TEST(NnConv, SameEqualsValidOnAnExplicitlyPaddedInput) {
  RandomGenerator gen(14);
  nn::Conv2d same(2, 3, 3, gen, {.stride = 2, .padding = nn::Padding2d::same()});
  nn::Conv2d valid(2, 3, 3, gen, {.stride = 2});
  copy_(valid.weight(), same.weight());
  copy_(valid.bias(), full({3}, 0.25));
  copy_(same.bias(), full({3}, 0.25));
  const Tensor x = nn::init::random_normal(0, 1)({1, 6, 6, 2}, gen);
  // TensorFlow pads a 6x6 input by 0 rows on top, 1 at the bottom (and likewise columns).
  const Tensor padded = concat({concat({x, zeros({1, 6, 1, 2})}, 2), zeros({1, 1, 7, 2})}, 1);
  EXPECT_LT(max_abs_diff(same(x), valid(padded)), 1e-6);
}

TEST(NnConv, ExplicitPaddingGroupsAndNoBias) {
  RandomGenerator gen(15);
  nn::Conv2d conv(4, 6, {3, 1}, gen,
                  {.padding = nn::Padding2d::symmetric(1, 0), .groups = 2, .bias = false});
  EXPECT_EQ(conv.weight().shape(), (Shape{6, 3, 1, 2}));
  EXPECT_FALSE(conv.bias().defined());
  EXPECT_EQ(conv(zeros({1, 5, 5, 4})).shape(), (Shape{1, 5, 5, 6}));
  EXPECT_EQ(names_of(conv.named_parameters()), (std::vector<std::string>{"weight"}));
  EXPECT_EQ(conv.name(), "Conv2d(4 -> 6, 3x1, pad 1/1/0/0, groups 2, no bias)");
  EXPECT_THROW(nn::Conv2d(4, 6, 3, gen, {.groups = 3}), Error);
  const std::string message = error_of([&] { conv(zeros({1, 5, 5, 3})); });
  EXPECT_NE(message.find("Conv2d(4 -> 6"), std::string::npos) << message;
  EXPECT_NE(message.find("[1, 5, 5, 3]"), std::string::npos) << message;
}

TEST(NnConv, DepthwiseFansMatchKerasDepthwiseConv2D) {
  RandomGenerator gen(16);
  // Keras DepthwiseConv2D(5, depth_multiplier=1) on 64 channels: fan_out = 5 * 5 * 1.
  nn::Conv2d dw(64, 64, 5, gen,
                {.groups = 64,
                 .weight_init = nn::init::variance_scaling(2.0, FanMode::FanOut,
                                                           Distribution::UntruncatedNormal)});
  EXPECT_EQ(dw.weight().shape(), (Shape{64, 5, 5, 1}));
  const double target = std::sqrt(2.0 / 25);
  EXPECT_NEAR(stats_of(dw.weight()).stddev, target, 0.06 * target);
}

TEST(NnConvTranspose, OutputSizesFollowKeras) {
  RandomGenerator gen(17);
  const auto same = nn::Padding2d::same();
  nn::ConvTranspose2d up4(8, 4, 4, gen, {.stride = 2, .padding = same});
  EXPECT_EQ(up4.weight().shape(), (Shape{8, 4, 4, 4}));  // [Cin, R, S, Cout]
  EXPECT_EQ(up4(zeros({2, 5, 7, 8})).shape(), (Shape{2, 10, 14, 4}));
  nn::ConvTranspose2d up3(8, 4, 3, gen, {.stride = 2, .padding = same});
  EXPECT_EQ(up3(zeros({1, 5, 5, 8})).shape(), (Shape{1, 10, 10, 4}));
  nn::ConvTranspose2d up1(8, 4, 1, gen, {.stride = 2, .padding = same});
  EXPECT_EQ(up1(zeros({1, 5, 5, 8})).shape(), (Shape{1, 10, 10, 4}));
  nn::ConvTranspose2d valid3(8, 4, 3, gen, {.stride = 2});
  EXPECT_EQ(valid3(zeros({1, 5, 5, 8})).shape(), (Shape{1, 11, 11, 4}));  // 5*2 + max(3-2, 0)
  nn::ConvTranspose2d valid1(8, 4, 1, gen, {.stride = 2});
  EXPECT_EQ(valid1(zeros({1, 5, 5, 8})).shape(), (Shape{1, 10, 10, 4}));  // 5*2 + 0
}

TEST(NnConvTranspose, IsTheAdjointOfTheSameConvolution) {
  // <T(x), y> = <x, C(y)> where C is the 'same' stride-2 convolution of the larger image with
  // the same filter (KRSC with K = Cin of T, C = Cout of T).
  RandomGenerator gen(18);
  for (int64_t kernel : {1, 3, 4}) {
    nn::ConvTranspose2d up(3, 2, kernel, gen,
                           {.stride = 2, .padding = nn::Padding2d::same(), .bias = false});
    nn::Conv2d down(2, 3, kernel, gen,
                    {.stride = 2, .padding = nn::Padding2d::same(), .bias = false});
    up.to(DType::Float64);
    down.to(DType::Float64);
    copy_(down.weight(), up.weight());
    const TensorOptions f64{.dtype = DType::Float64};
    const Tensor x = nn::init::random_normal(0, 1)({1, 5, 4, 3}, gen, f64);
    const Tensor y = nn::init::random_normal(0, 1)({1, 10, 8, 2}, gen, f64);
    const Tensor tx = up(x);
    ASSERT_EQ(tx.shape(), y.shape()) << "kernel " << kernel;
    EXPECT_NEAR(dot(tx, y), dot(x, down(y)), 1e-10) << "kernel " << kernel;
  }
}

// ---------------------------------------------------------------------------------------------
// Normalisation

TEST(NnNorm, BatchNormTrainingNormalisesAndUpdatesRunningStats) {
  nn::BatchNorm bn(2);
  EXPECT_EQ(names_of(bn.named_parameters()), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(names_of(bn.named_buffers()),
            (std::vector<std::string>{"running_mean", "running_var"}));
  // Channel 0: {1, 3, 5, 7} (mean 4, biased var 5); channel 1: {2, 2, 2, 2} (mean 2, var 0).
  const Tensor x = from_vector<float>({1, 2, 3, 2, 5, 2, 7, 2}, {2, 2, 1, 2});
  const Tensor y = bn(x);
  const auto v = y.to_vector<float>();
  const double s = 1.0 / std::sqrt(5.0 + 1e-3);
  EXPECT_NEAR(v[0], -3 * s, 1e-5);
  EXPECT_NEAR(v[6], 3 * s, 1e-5);
  EXPECT_NEAR(v[1], 0.0, 1e-5);
  // Keras momentum 0.99: running = 0.99 * running + 0.01 * batch.
  const auto rm = bn.running_mean().to_vector<float>();
  const auto rv = bn.running_var().to_vector<float>();
  EXPECT_NEAR(rm[0], 0.04, 1e-6);
  EXPECT_NEAR(rm[1], 0.02, 1e-6);
  EXPECT_NEAR(rv[0], 0.99 + 0.05, 1e-6);
  EXPECT_NEAR(rv[1], 0.99, 1e-6);
}

TEST(NnNorm, BatchNormEvalUsesRunningStatsAndLeavesThemAlone) {
  nn::BatchNorm bn(1, {.eps = 0.01});
  fill_(bn.running_mean(), 2.0);
  fill_(bn.running_var(), 3.99);
  fill_(bn.weight(), 2.0);
  fill_(bn.bias(), 1.0);
  bn.eval();
  const Tensor y = bn(from_vector<float>({0, 2, 6}, {3, 1}));
  // (x - 2) / sqrt(4) * 2 + 1
  const auto v = y.to_vector<float>();
  EXPECT_NEAR(v[0], -1.0, 1e-6);
  EXPECT_NEAR(v[1], 1.0, 1e-6);
  EXPECT_NEAR(v[2], 5.0, 1e-6);
  EXPECT_EQ(bn.running_mean().to_vector<float>(), (std::vector<float>{2.0f}));
  EXPECT_THROW(bn(zeros({3, 2})), Error);
}

TEST(NnNorm, LayerNormNormalisesTrailingAxes) {
  nn::LayerNorm ln({2, 2});
  const Tensor x = from_vector<float>({1, 2, 3, 4, 10, 10, 10, 14}, {2, 2, 2});
  const auto v = ln(x).to_vector<float>();
  // Row 0: mean 2.5, var 1.25. Row 1: mean 11, var 3.
  EXPECT_NEAR(v[0], -1.5 / std::sqrt(1.25 + 1e-3), 1e-5);
  EXPECT_NEAR(v[7], 3.0 / std::sqrt(3.0 + 1e-3), 1e-5);
  EXPECT_EQ(ln.num_parameters(), 8);
  const std::string message = error_of([&] { ln(zeros({2, 3})); });
  EXPECT_NE(message.find("LayerNorm([2, 2])"), std::string::npos) << message;
}

// ---------------------------------------------------------------------------------------------
// Embedding, dropout, stateless layers

TEST(NnEmbedding, LooksUpRowsAndAccumulatesTheirGradients) {
  RandomGenerator gen(19);
  nn::Embedding emb(5, 3, gen);
  EXPECT_LE(stats_of(emb.weight()).max_abs, 0.05);  // Keras uniform(-0.05, 0.05)
  const Tensor index = from_vector<int64_t>({4, 0, 4}, {3}, {.dtype = DType::Int64});
  const Tensor rows = emb(index);
  EXPECT_EQ(rows.shape(), (Shape{3, 3}));
  EXPECT_EQ(slice(rows, 0, 0, 1).to_vector<float>(),
            slice(emb.weight(), 0, 4, 5).to_vector<float>());
  sum(rows).backward();
  const auto g = emb.weight().grad().to_vector<float>();
  EXPECT_EQ(g[0], 1.0f);   // row 0 used once
  EXPECT_EQ(g[3], 0.0f);   // row 1 unused
  EXPECT_EQ(g[12], 2.0f);  // row 4 used twice
  EXPECT_THROW(emb(from_vector<int32_t>({1}, {1}, {.dtype = DType::Int32})), Error);
}

TEST(NnDropout, DropsInTrainingOnlyAndReplaysFromItsGenerator) {
  RandomGenerator gen(42);
  nn::Dropout drop(0.25, gen);
  const Tensor x = ones({4000});
  const auto v = drop(x).to_vector<float>();
  int64_t zeros_seen = 0;
  for (float e : v) {
    if (e == 0.0f) ++zeros_seen;
    else EXPECT_FLOAT_EQ(e, 1.0f / 0.75f);
  }
  EXPECT_NEAR(zeros_seen / 4000.0, 0.25, 0.03);
  EXPECT_NE(drop(x).to_vector<float>(), v);  // the generator moved on: a new mask
  RandomGenerator same_seed(42);
  nn::Dropout again(0.25, same_seed);
  EXPECT_EQ(again(x).to_vector<float>(), v);
  drop.eval();
  const uint64_t offset = gen.offset();
  EXPECT_EQ(drop(x).to_vector<float>(), x.to_vector<float>());
  EXPECT_EQ(gen.offset(), offset);  // eval draws nothing
  EXPECT_THROW(nn::Dropout(1.0), Error);
}

TEST(NnStateless, ActivationPoolingAndFlattenLayers) {
  const Tensor x = from_vector<float>({-2, -0.5, 0.5, 2}, {1, 2, 1, 2});
  EXPECT_EQ(nn::ReLU()(x).to_vector<float>(), relu(x).to_vector<float>());
  EXPECT_EQ(nn::LeakyReLU(0.1)(x).to_vector<float>(), leaky_relu(x, 0.1).to_vector<float>());
  EXPECT_EQ(nn::SiLU()(x).to_vector<float>(), silu(x).to_vector<float>());
  EXPECT_EQ(nn::Sigmoid()(x).to_vector<float>(), sigmoid(x).to_vector<float>());
  EXPECT_EQ(nn::Tanh()(x).to_vector<float>(), tanh(x).to_vector<float>());
  EXPECT_EQ(nn::GlobalAvgPool()(x).to_vector<float>(), (std::vector<float>{-0.75f, 0.75f}));
  EXPECT_EQ(nn::Flatten()(x).shape(), (Shape{1, 4}));
  nn::Lambda twice("twice", [](const Tensor& t) { return t * 2.0; });
  EXPECT_EQ(twice(x).to_vector<float>(), (std::vector<float>{-4, -1, 1, 4}));
  EXPECT_EQ(twice.name(), "twice");
}

// ---------------------------------------------------------------------------------------------
// A small CNN end to end: names, parameter count, and SGD making the loss fall.

TEST(NnEndToEnd, SmallCnnNamesAndTrains) {
  RandomGenerator gen(20);
  nn::Sequential net;
  net.emplace<nn::Conv2d>(3, 8, 3, gen,
                          nn::Conv2dOptions{.stride = 2, .padding = nn::Padding2d::same()});
  net.emplace<nn::BatchNorm>(8);
  net.emplace<nn::SiLU>();
  net.emplace<nn::Conv2d>(8, 16, 3, gen, nn::Conv2dOptions{.padding = nn::Padding2d::same()});
  net.emplace<nn::LeakyReLU>(0.2);
  net.emplace<nn::GlobalAvgPool>();
  net.emplace<nn::Linear>(16, 4, gen);
  EXPECT_EQ(names_of(net.named_parameters()),
            (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "3.weight",
                                      "3.bias", "6.weight", "6.bias"}));
  EXPECT_EQ(names_of(net.named_buffers()),
            (std::vector<std::string>{"1.running_mean", "1.running_var"}));
  EXPECT_EQ(net.num_parameters(), (8 * 27 + 8) + 16 + (16 * 72 + 16) + (4 * 16 + 4));

  // 16 images 8x8: class colour + noise, 4 classes.
  const Tensor colours = nn::init::random_normal(0, 1)({4, 1, 1, 3}, gen);
  const Tensor labels = from_vector<int64_t>({0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3},
                                             {16}, {.dtype = DType::Int64});
  const Tensor images = add(expand(concat({colours, colours, colours, colours}, 0), {16, 8, 8, 3}),
                            nn::init::random_normal(0, 1)({16, 8, 8, 3}, gen));
  optim::SGD sgd(net.parameters(), {.lr = 0.05, .momentum = 0.9});
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    sgd.zero_grad();
    const Tensor loss = cross_entropy(net(images), labels);
    loss.backward();
    sgd.step();
    last = loss.item<double>();
    if (step == 0) first = last;
  }
  EXPECT_LT(last, 0.5 * first) << "loss went from " << first << " to " << last;
  // Eval mode gives a deterministic forward that uses the running statistics.
  net.eval();
  EXPECT_EQ(net(images).to_vector<float>(), net(images).to_vector<float>());
}

}  // namespace
}  // namespace ember
