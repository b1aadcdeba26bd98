// The conditional generator and projection critic (gan/networks.h): parameter counts of the
// default configs computed by hand from the layer sizes, parameter names and shapes, output
// shapes and ranges, the transposed convolution's 'same' padding (1 pixel each side for k4 s2),
// the projection formula by hand, configurability, determinism, both initialisers, BatchNorm
// train/eval behaviour, gradients reaching every parameter, and the errors.
// Run: ember_tests --gtest_filter='GanModels.*'.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "gan/networks.h"
#include "ops/ops.h"
#include "tests/expect_error.h"

namespace ember::models {
namespace {

std::map<std::string, Tensor> as_map(const nn::NamedTensors& named) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : named) out[name] = t;
  return out;
}

Tensor labels_of(const std::vector<int64_t>& values) {
  return from_vector<int64_t>(values, {static_cast<int64_t>(values.size())},
                              {.dtype = DType::Int64});
}

Tensor noise(const Shape& shape, uint64_t seed, DType dtype = DType::Float32) {
  RandomGenerator g(seed);
  return rand_normal(shape, g, {.dtype = dtype});
}

// A small generator (16x16x1 from 4x4x16) and critic (16x16x1, filters {4, 8}), 3 classes.
GeneratorConfig small_generator_config() {
  GeneratorConfig c;
  c.num_classes = 3;
  c.latent_dim = 6;
  c.embedding_dim = 2;
  c.base_size = 4;
  c.base_channels = 16;
  c.stage_filters = {8, 4};
  c.out_channels = 1;
  c.image_size = 16;
  return c;
}

CriticConfig small_critic_config() {
  CriticConfig c;
  c.num_classes = 3;
  c.image_size = 16;
  c.in_channels = 1;
  c.filters = {4, 8};
  return c;
}

TEST(GanModels, GeneratorDefaultParameterCountByHand) {
  RandomGenerator gen(1);
  ConditionalGenerator g(GeneratorConfig{}, gen);
  // label_embedding: 10 classes x 32                                     =       320
  // dense: (128 + 32) inputs x 4096 + 4096 bias                          =   659,456
  // up1_convt 256 -> 256, 4x4: 256*4*4*256 + 256                         = 1,048,832
  // up2_convt 256 -> 128:      256*4*4*128 + 128                         =   524,416
  // up3_convt 128 -> 64:       128*4*4*64 + 64                           =   131,136
  // up4_convt 64 -> 32:        64*4*4*32 + 32                            =    32,800
  // up1..4_bn gamma + beta: 2 * (256 + 128 + 64 + 32)                    =       960
  // to_rgb 32 -> 3, 3x3: 3*3*3*32 + 3                                    =       867
  const int64_t by_hand = 10 * 32 + (160 * 4096 + 4096) + (256 * 16 * 256 + 256) +
                          (256 * 16 * 128 + 128) + (128 * 16 * 64 + 64) + (64 * 16 * 32 + 32) +
                          2 * (256 + 128 + 64 + 32) + (3 * 3 * 3 * 32 + 3);
  EXPECT_EQ(by_hand, 2398787);
  EXPECT_EQ(g.num_trainable_parameters(), 2398787);
  // Non-trainable: the BN running mean and variance, 2 * (256 + 128 + 64 + 32).
  EXPECT_EQ(g.num_buffer_elements(), 960);
  const std::string summary = g.summary();
  EXPECT_NE(summary.find("Trainable params: 2,398,787"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Non-trainable params: 960"), std::string::npos) << summary;
  EXPECT_NE(summary.find("up4_convt (Conv2DTranspose)"), std::string::npos) << summary;
  EXPECT_NE(summary.find("(None, 64, 64, 3)"), std::string::npos) << summary;
}

TEST(GanModels, CriticDefaultParameterCountByHand) {
  RandomGenerator gen(1);
  ProjectionCritic d(CriticConfig{}, gen);
  // down1_conv 3 -> 64, 4x4:    64*4*4*3 + 64     =     3,136
  // down2_conv 64 -> 128:       128*4*4*64 + 128  =   131,200
  // down3_conv 128 -> 256:      256*4*4*128 + 256 =   524,544
  // down4_conv 256 -> 512:      512*4*4*256 + 512 = 2,097,664
  // score: Dense(512 -> 1)      512 + 1           =       513
  // projection: Embedding(10, 512)                =     5,120
  const int64_t by_hand = (64 * 16 * 3 + 64) + (128 * 16 * 64 + 128) + (256 * 16 * 128 + 256) +
                          (512 * 16 * 256 + 512) + (512 + 1) + 10 * 512;
  EXPECT_EQ(by_hand, 2762177);
  EXPECT_EQ(d.num_trainable_parameters(), 2762177);
  EXPECT_TRUE(d.buffers().empty());  // no BatchNorm in the critic
  EXPECT_NE(d.summary().find("Trainable params: 2,762,177"), std::string::npos) << d.summary();

  // Layer norm on stages 2..4 adds a gain and an offset per channel: 2 * (128 + 256 + 512).
  CriticConfig with_ln;
  with_ln.layer_norm = true;
  ProjectionCritic d_ln(with_ln, gen);
  EXPECT_EQ(d_ln.num_trainable_parameters(), 2762177 + 2 * (128 + 256 + 512));
  EXPECT_EQ(d_ln.num_trainable_parameters(), 2763969);
}

TEST(GanModels, ParameterNamesAndShapes) {
  RandomGenerator gen(2);
  ConditionalGenerator g(GeneratorConfig{}, gen);
  const auto gp = as_map(g.named_parameters());
  const std::map<std::string, Shape> expected_g = {{"label_embedding.weight", {10, 32}},
                                                   {"dense.weight", {4096, 160}},
                                                   {"dense.bias", {4096}},
                                                   {"up1_convt.weight", {256, 4, 4, 256}},
                                                   {"up1_convt.bias", {256}},
                                                   {"up1_bn.weight", {256}},
                                                   {"up1_bn.bias", {256}},
                                                   {"up2_convt.weight", {256, 4, 4, 128}},
                                                   {"up2_convt.bias", {128}},
                                                   {"up2_bn.weight", {128}},
                                                   {"up2_bn.bias", {128}},
                                                   {"up3_convt.weight", {128, 4, 4, 64}},
                                                   {"up3_convt.bias", {64}},
                                                   {"up3_bn.weight", {64}},
                                                   {"up3_bn.bias", {64}},
                                                   {"up4_convt.weight", {64, 4, 4, 32}},
                                                   {"up4_convt.bias", {32}},
                                                   {"up4_bn.weight", {32}},
                                                   {"up4_bn.bias", {32}},
                                                   {"to_rgb.weight", {3, 3, 3, 32}},
                                                   {"to_rgb.bias", {3}}};
  EXPECT_EQ(gp.size(), expected_g.size());
  for (const auto& [name, shape] : expected_g) {
    ASSERT_TRUE(gp.count(name)) << name;
    EXPECT_EQ(gp.at(name).shape(), shape) << name;
  }
  const auto gb = as_map(g.named_buffers());
  EXPECT_TRUE(gb.count("up1_bn.running_mean") && gb.count("up4_bn.running_var"));

  CriticConfig cc;
  cc.layer_norm = true;
  ProjectionCritic d(cc, gen);
  const auto dp = as_map(d.named_parameters());
  const std::map<std::string, Shape> expected_d = {{"down1_conv.weight", {64, 4, 4, 3}},
                                                   {"down1_conv.bias", {64}},
                                                   {"down2_conv.weight", {128, 4, 4, 64}},
                                                   {"down2_conv.bias", {128}},
                                                   {"down2_ln.weight", {128}},
                                                   {"down2_ln.bias", {128}},
                                                   {"down3_conv.weight", {256, 4, 4, 128}},
                                                   {"down3_conv.bias", {256}},
                                                   {"down3_ln.weight", {256}},
                                                   {"down3_ln.bias", {256}},
                                                   {"down4_conv.weight", {512, 4, 4, 256}},
                                                   {"down4_conv.bias", {512}},
                                                   {"down4_ln.weight", {512}},
                                                   {"down4_ln.bias", {512}},
                                                   {"score.weight", {1, 512}},
                                                   {"score.bias", {1}},
                                                   {"projection.weight", {10, 512}}};
  EXPECT_EQ(dp.size(), expected_d.size());
  for (const auto& [name, shape] : expected_d) {
    ASSERT_TRUE(dp.count(name)) << name;
    EXPECT_EQ(dp.at(name).shape(), shape) << name;
  }
}

TEST(GanModels, DefaultShapesAndRange) {
  RandomGenerator gen(3);
  ConditionalGenerator g(GeneratorConfig{}, gen);
  ProjectionCritic d(CriticConfig{}, gen);
  const Tensor z = noise({2, 128}, 10);
  const Tensor y = labels_of({1, 9});
  Tensor images = g(z, y);
  ASSERT_EQ(images.shape(), Shape({2, 64, 64, 3}));
  const std::vector<float> v = images.to_vector<float>();
  float lo = 1, hi = -1;
  for (float x : v) {
    ASSERT_TRUE(std::isfinite(x));
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  EXPECT_GE(lo, -1.0f);
  EXPECT_LE(hi, 1.0f);
  EXPECT_LT(lo, -0.05f);  // not a constant image: tanh of a spread of values
  EXPECT_GT(hi, 0.05f);
  Tensor scores = d(images, y);
  EXPECT_EQ(scores.shape(), Shape({2, 1}));
  EXPECT_EQ(d.features(images).shape(), Shape({2, 512}));
}

TEST(GanModels, TransposedConvSamePaddingIsOnePixelEachSide) {
  // Keras Conv2DTranspose(k4, s2, 'same') = PyTorch ConvTranspose2d(4, 2, padding=1): the output
  // is 2H and the layer's 'same' must equal explicit 1/1 padding.
  RandomGenerator gen(4);
  nn::ConvTranspose2d convt(3, 5, 4, gen, {.stride = 2, .padding = nn::Padding2d::same()});
  const Tensor x = noise({2, 5, 7, 3}, 11);
  Tensor y = convt(x);
  EXPECT_EQ(y.shape(), Shape({2, 10, 14, 5}));
  Tensor explicit_pad =
      conv_transpose2d(x, convt.weight(), convt.bias(), symmetric_padding(1, 1, 2, 2));
  EXPECT_LT(max_abs_diff(y, explicit_pad), 1e-6);
}

TEST(GanModels, ProjectionFormulaByHand) {
  RandomGenerator gen(5);
  ProjectionCritic d(small_critic_config(), gen);
  d.to(DType::Float64);
  const Tensor x = noise({3, 16, 16, 1}, 12, DType::Float64);
  const Tensor y = labels_of({2, 0, 2});
  const auto p = as_map(d.named_parameters());
  const std::vector<double> h = d.features(x).to_vector<double>();  // [3, 8]
  const std::vector<double> w = p.at("score.weight").to_vector<double>();
  const double b = p.at("score.bias").item<double>();
  const std::vector<double> e = p.at("projection.weight").to_vector<double>();  // [3, 8]
  const std::vector<double> out = d(x, y).to_vector<double>();
  const int64_t classes[] = {2, 0, 2};
  for (int i = 0; i < 3; ++i) {
    double expected = b;
    for (int k = 0; k < 8; ++k)
      expected += w[k] * h[i * 8 + k] + e[classes[i] * 8 + k] * h[i * 8 + k];
    EXPECT_NEAR(out[i], expected, 1e-12) << "sample " << i;
  }
  // The features are a sum over the 4x4 last map: by hand from the stages.
  Tensor a = leaky_relu(conv2d(x, p.at("down1_conv.weight"), p.at("down1_conv.bias"),
                               same_padding(16, 16, 4, 4, 2, 2)),
                        0.2);
  a = leaky_relu(
      conv2d(a, p.at("down2_conv.weight"), p.at("down2_conv.bias"), same_padding(8, 8, 4, 4, 2, 2)),
      0.2);
  EXPECT_EQ(a.shape(), Shape({3, 4, 4, 8}));
  EXPECT_LT(max_abs_diff(sum(a, {1, 2}), d.features(x)), 1e-12);
}

TEST(GanModels, ConfigurableWidthsAndLatent) {
  RandomGenerator gen(6);
  ConditionalGenerator g(small_generator_config(), gen);
  // 3*2 + (8*256 + 256) + (16*16*8 + 8) + (8*16*4 + 4) + 2*(8 + 4) + (1*3*3*4 + 1)
  EXPECT_EQ(g.num_trainable_parameters(), 3 * 2 + (8 * 256 + 256) + (16 * 16 * 8 + 8) +
                                              (8 * 16 * 4 + 4) + 2 * (8 + 4) + (1 * 3 * 3 * 4 + 1));
  Tensor images = g(noise({5, 6}, 13), labels_of({0, 1, 2, 0, 1}));
  EXPECT_EQ(images.shape(), Shape({5, 16, 16, 1}));

  ProjectionCritic d(small_critic_config(), gen);
  // (4*4*4*1 + 4) + (8*4*4*4 + 8) + (8 + 1) + 3*8
  EXPECT_EQ(d.num_trainable_parameters(), (4 * 16 + 4) + (8 * 16 * 4 + 8) + (8 + 1) + 3 * 8);
  EXPECT_EQ(d(images, labels_of({0, 1, 2, 0, 1})).shape(), Shape({5, 1}));

  // Three stages from a 2x2 base give 16x16 as well; a 32-image critic with 3 stages.
  GeneratorConfig c = small_generator_config();
  c.base_size = 2;
  c.stage_filters = {8, 8, 4};
  ConditionalGenerator g3(c, gen);
  EXPECT_EQ(g3(noise({1, 6}, 14), labels_of({2})).shape(), Shape({1, 16, 16, 1}));
  CriticConfig cc = small_critic_config();
  cc.image_size = 32;
  cc.filters = {2, 4, 6};
  cc.num_classes = 5;
  ProjectionCritic d3(cc, gen);
  EXPECT_EQ(d3.features(noise({2, 32, 32, 1}, 15)).shape(), Shape({2, 6}));
  EXPECT_EQ(as_map(d3.named_parameters()).at("projection.weight").shape(), Shape({5, 6}));
}

TEST(GanModels, SameSeedSameModelAndOutputs) {
  auto run = [](uint64_t seed) {
    RandomGenerator gen(seed);
    ConditionalGenerator g(small_generator_config(), gen);
    ProjectionCritic d(small_critic_config(), gen);
    g.eval();
    Tensor images = g(noise({4, 6}, 20), labels_of({0, 1, 2, 1}));
    return std::make_pair(images.to_vector<float>(),
                          d(images, labels_of({0, 1, 2, 1})).to_vector<float>());
  };
  const auto a = run(7), b = run(7), c = run(8);
  EXPECT_EQ(a.first, b.first);  // bit-identical
  EXPECT_EQ(a.second, b.second);
  EXPECT_NE(a.first, c.first);
}

TEST(GanModels, BatchNormTrainUsesBatchStatisticsEvalRunningOnes) {
  RandomGenerator gen(9);
  ConditionalGenerator g(small_generator_config(), gen);
  const Tensor z = noise({4, 6}, 21);
  const Tensor y = labels_of({0, 1, 2, 0});
  const auto buffers = as_map(g.named_buffers());
  const std::vector<float> before = buffers.at("up1_bn.running_mean").to_vector<float>();
  Tensor train_out = g(z, y);
  EXPECT_NE(buffers.at("up1_bn.running_mean").to_vector<float>(), before);  // updated
  g.eval();
  Tensor eval_out = g(z, y);
  EXPECT_GT(max_abs_diff(train_out, eval_out), 1e-4);
  const std::vector<float> after = buffers.at("up1_bn.running_mean").to_vector<float>();
  g(z, y);
  EXPECT_EQ(buffers.at("up1_bn.running_mean").to_vector<float>(), after);  // eval: unchanged
}

TEST(GanModels, KerasAndDcganInitialisers) {
  RandomGenerator gen(10);
  ConditionalGenerator keras(GeneratorConfig{}, gen);
  const auto k = as_map(keras.named_parameters());
  // glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)) = sqrt(6 / (160 + 4096)).
  const double limit = std::sqrt(6.0 / (160 + 4096));
  const double kmax = amax(abs(k.at("dense.weight"))).item<double>();
  EXPECT_LE(kmax, limit);
  EXPECT_GT(kmax, 0.99 * limit);
  EXPECT_LE(amax(abs(k.at("label_embedding.weight"))).item<double>(), 0.05);
  EXPECT_EQ(k.at("up1_bn.weight").to_vector<float>(), std::vector<float>(256, 1.0f));

  GeneratorConfig dc;
  dc.init = GanInit::Dcgan;
  ConditionalGenerator dcgan(dc, gen);
  const auto p = as_map(dcgan.named_parameters());
  auto stddev = [](const Tensor& t, double centre) {
    return std::sqrt(mean(pow(add_scalar(t, -centre), 2.0)).item<double>());
  };
  EXPECT_NEAR(stddev(p.at("dense.weight"), 0.0), 0.02, 0.0005);  // 655,360 draws
  EXPECT_NEAR(stddev(p.at("up1_convt.weight"), 0.0), 0.02, 0.0005);
  EXPECT_NEAR(mean(p.at("up1_bn.weight")).item<double>(), 1.0, 0.005);  // gamma ~ N(1, 0.02)
  EXPECT_NEAR(stddev(p.at("up1_bn.weight"), 1.0), 0.02, 0.005);
  EXPECT_EQ(p.at("dense.bias").to_vector<float>(), std::vector<float>(4096, 0.0f));
  EXPECT_EQ(parse_gan_init("dcgan"), GanInit::Dcgan);
  EXPECT_EQ(gan_init_name(GanInit::Keras), "keras");
  EXPECT_ERROR_MENTIONS(parse_gan_init("xavier"), "'xavier'");
}

TEST(GanModels, GradientsReachEveryParameter) {
  RandomGenerator gen(11);
  ConditionalGenerator g(small_generator_config(), gen);
  CriticConfig cc = small_critic_config();
  cc.layer_norm = true;
  ProjectionCritic d(cc, gen);
  const Tensor y = labels_of({0, 2, 1});
  sum(d(g(noise({3, 6}, 22), y), y)).backward();
  for (const auto& [name, t] : g.named_parameters()) {
    ASSERT_TRUE(t.grad().defined()) << name;
    // A transposed-conv bias feeds a training-mode BatchNorm, which subtracts every per-channel
    // constant: its gradient is zero up to rounding (kept for Keras's parameter count).
    if (name.find("_convt.bias") != std::string::npos) {
      EXPECT_LT(amax(abs(t.grad())).item<double>(), 1e-3) << name;
      continue;
    }
    EXPECT_GT(amax(abs(t.grad())).item<double>(), 0.0) << name;
  }
  for (const auto& [name, t] : d.named_parameters()) {
    // The projection rows of unused classes get zero gradient, the used ones not.
    ASSERT_TRUE(t.grad().defined()) << name;
    EXPECT_GT(amax(abs(t.grad())).item<double>(), 0.0) << name;
  }
}

TEST(GanModels, ErrorsNameTheProblem) {
  RandomGenerator gen(12);
  GeneratorConfig bad = small_generator_config();
  bad.image_size = 32;
  EXPECT_ERROR_MENTIONS(ConditionalGenerator(bad, gen), "image_size 32");
  bad = small_generator_config();
  bad.stage_filters = {};
  EXPECT_ERROR_MENTIONS(ConditionalGenerator(bad, gen), "stage_filters");
  bad = small_generator_config();
  bad.latent_dim = 0;
  EXPECT_ERROR_MENTIONS(ConditionalGenerator(bad, gen), "latent_dim");
  CriticConfig bad_d = small_critic_config();
  bad_d.filters = {4, -1};
  EXPECT_ERROR_MENTIONS(ProjectionCritic(bad_d, gen), "filters");

  ConditionalGenerator g(small_generator_config(), gen);
  EXPECT_ERROR_MENTIONS(g(noise({2, 5}, 1), labels_of({0, 1})), "z must be [N, 6]");
  EXPECT_ERROR_MENTIONS(g(noise({2, 6}, 1), labels_of({0})), "labels must be int64 [2]");
  EXPECT_ERROR_MENTIONS(g(noise({2, 6}, 1), noise({2}, 1)), "labels must be int64");
  ProjectionCritic d(small_critic_config(), gen);
  EXPECT_ERROR_MENTIONS(d(noise({2, 8, 8, 1}, 1), labels_of({0, 1})),
                        "images must be [N, 16, 16, 1]");
}

}  // namespace
}  // namespace ember::models
