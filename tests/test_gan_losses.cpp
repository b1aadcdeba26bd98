// The GAN losses (gan/losses.h): WGAN-GP and non-saturating BCE against hand
// computations; the key check, the gradient of the WGAN-GP critic loss (penalty
// included, so through the double backward) with respect to every parameter of a small
// ProjectionCritic against central finite differences in float64, with and without layer norm;
// the same gradients on the GPU against the CPU (skipped without a GPU); a few Adam steps with
// the WGAN-GP paper's settings lowering the critic loss; determinism and errors.
// Run: ember_tests --gtest_filter='GanLosses*'.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>

#include "gan/networks.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "tests/device_compare.h"
#include "tests/expect_error.h"
#include "gan/losses.h"

namespace ember::training {
namespace {

using models::CriticConfig;
using models::ProjectionCritic;

Tensor labels_of(const std::vector<int64_t>& values) {
  return from_vector<int64_t>(values, {static_cast<int64_t>(values.size())},
                              {.dtype = DType::Int64});
}

Tensor uniform(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0,
               DType dtype = DType::Float64) {
  RandomGenerator g(seed);
  return rand_uniform(shape, g, {.dtype = dtype}, lo, hi);
}

double value(const Tensor& t) { return t.item<double>(); }

// D(x, y) = <w_y, x> (w: [classes, H, W, C]): linear in x, so grad_x D = w_y everywhere and the
// penalty is mean_i (||w_{y_i}|| - 1)^2 exactly.
CriticFn linear_critic(const Tensor& w) {
  return [w](const Tensor& x, const Tensor& y) {
    return unsqueeze(
        sum(mul(x, embedding(reshape(w, {w.size(0), -1}), y).reshape(x.shape())), {1, 2, 3}), 1);
  };
}

double norm_of(const Tensor& t) { return std::sqrt(value(sum(mul(t, t)))); }

TEST(GanLosses, PenaltyIsZeroForUnitGradientLinearCritic) {
  // One class, w of unit norm: ||grad_x D|| = 1 at every x_hat, so GP = 0.
  Tensor w = uniform({1, 4, 4, 2}, 1);
  w = mul_scalar(w, 1.0 / norm_of(w));
  const Tensor real = uniform({3, 4, 4, 2}, 2), fake = uniform({3, 4, 4, 2}, 3);
  const Tensor alpha = uniform({3, 1, 1, 1}, 4, 0.0, 1.0);
  const Tensor y = labels_of({0, 0, 0});
  EXPECT_LT(value(gradient_penalty(linear_critic(w), real, fake, y, alpha)), 1e-20);
}

TEST(GanLosses, PenaltyAndCriticLossByHand) {
  // Three classes with ||w_0|| = 2, ||w_1|| = 0.5, ||w_2|| = 1; labels {0, 1, 1, 2}:
  // GP = ((2 - 1)^2 + 2 * (0.5 - 1)^2 + 0) / 4 = 1.5 / 4 = 0.375.
  Tensor w0 = uniform({1, 3, 3, 1}, 5), w1 = uniform({1, 3, 3, 1}, 6),
         w2 = uniform({1, 3, 3, 1}, 7);
  Tensor w = concat({mul_scalar(w0, 2.0 / norm_of(w0)), mul_scalar(w1, 0.5 / norm_of(w1)),
                     mul_scalar(w2, 1.0 / norm_of(w2))},
                    0);
  w.set_requires_grad(true);
  const CriticFn critic = linear_critic(w);
  const Tensor real = uniform({4, 3, 3, 1}, 8), fake = uniform({4, 3, 3, 1}, 9);
  const Tensor alpha = uniform({4, 1, 1, 1}, 10, 0.0, 1.0);
  const Tensor y = labels_of({0, 1, 1, 2});
  // Tolerances 1e-10: the norm is sqrt(||g||^2 + 1e-12), which moves GP by ~1e-12.
  const Tensor penalty = gradient_penalty(critic, real, fake, y, alpha);
  EXPECT_NEAR(value(penalty), 0.375, 1e-10);

  // d GP / d w_c = (1/N) sum_{i: y_i = c} 2 (||w_c|| - 1) w_c / ||w_c||:
  //   class 0: (1/4) * 2 * 1 * w_0 / 2 = w_0 / 4; class 1: (2/4) * 2 * (-0.5) * w_1 / 0.5
  //   = -w_1; class 2: 0.
  const Tensor g = grad({penalty}, {w})[0];
  const Tensor wd = w.detach();
  const Tensor expected =
      concat({mul_scalar(slice(wd, 0, 0, 1), 0.25), mul_scalar(slice(wd, 0, 1, 2), -1.0),
              zeros_like(slice(wd, 0, 2, 3))},
             0);
  EXPECT_LT(max_abs_diff(g, expected), 1e-10);

  // L_D = mean D(fake) - mean D(real) + 10 GP, W = mean D(real) - mean D(fake), all by hand.
  const std::vector<double> wv = wd.to_vector<double>(), rv = real.to_vector<double>(),
                            fv = fake.to_vector<double>();
  const int64_t cls[] = {0, 1, 1, 2};
  double mean_real = 0, mean_fake = 0;
  for (int i = 0; i < 4; ++i)
    for (int k = 0; k < 9; ++k) {
      mean_real += wv[cls[i] * 9 + k] * rv[i * 9 + k] / 4;
      mean_fake += wv[cls[i] * 9 + k] * fv[i * 9 + k] / 4;
    }
  const CriticLossParts parts = wgan_gp_critic_loss(critic, real, fake, y, alpha);
  EXPECT_NEAR(value(parts.real_score), mean_real, 1e-10);
  EXPECT_NEAR(value(parts.fake_score), mean_fake, 1e-10);
  EXPECT_NEAR(value(parts.penalty), 0.375, 1e-10);
  EXPECT_NEAR(value(parts.loss), mean_fake - mean_real + 10 * 0.375, 1e-10);
  EXPECT_NEAR(value(parts.wasserstein), mean_real - mean_fake, 1e-10);
  EXPECT_NEAR(value(wasserstein_estimate(critic(real, y), critic(fake, y))), mean_real - mean_fake,
              1e-10);
  EXPECT_NEAR(value(wgan_generator_loss(critic, fake, y)), -mean_fake, 1e-10);
  // The weight is an option.
  EXPECT_NEAR(
      value(wgan_gp_critic_loss(critic, real, fake, y, alpha, {.penalty_weight = 2.0}).loss),
      mean_fake - mean_real + 2 * 0.375, 1e-10);
}

TEST(GanLosses, BceLossesByHand) {
  // D(x, y) = sum of x's pixels, so the logits are known: real {0.5, -2}, fake {1, 3}.
  const CriticFn critic = [](const Tensor& x, const Tensor&) {
    return reshape(sum(x, {1, 2, 3}), {-1, 1});
  };
  const Tensor real =
      reshape(from_vector<double>({0.5, -2.0}, {2}, {.dtype = DType::Float64}), {2, 1, 1, 1});
  const Tensor fake =
      reshape(from_vector<double>({1.0, 3.0}, {2}, {.dtype = DType::Float64}), {2, 1, 1, 1});
  const Tensor y = labels_of({0, 1});
  auto softplus = [](double v) { return std::log1p(std::exp(v)); };
  // BCE(x, 1) = softplus(-x), BCE(x, 0) = softplus(x).
  const double real_term = (softplus(-0.5) + softplus(2.0)) / 2;
  const double fake_term = (softplus(1.0) + softplus(3.0)) / 2;
  const CriticLossParts d = bce_discriminator_loss(critic, real, fake, y);
  EXPECT_NEAR(value(d.loss), (real_term + fake_term) / 2, 1e-12);
  // Keras's form: one BCE over the concatenated 2N batch, fake labelled 1 and real 0, on the
  // negated logits of this critic (same value by BCE(x, 1) = BCE(-x, 0)).
  const Tensor keras_logits = neg(concat({critic(fake, y), critic(real, y)}, 0));
  const Tensor keras_labels = concat(
      {ones({2, 1}, {.dtype = DType::Float64}), zeros({2, 1}, {.dtype = DType::Float64})}, 0);
  EXPECT_NEAR(value(d.loss), value(bce_with_logits(keras_logits, keras_labels)), 1e-12);
  EXPECT_EQ(value(d.penalty), 0.0);
  EXPECT_NEAR(value(d.wasserstein), (0.5 - 2.0) / 2 - (1.0 + 3.0) / 2, 1e-12);
  EXPECT_NEAR(value(bce_generator_loss(critic, fake, y)), (softplus(-1.0) + softplus(-3.0)) / 2,
              1e-12);
}

// Central differences in every element of every parameter of `module` (float64, CPU) of the
// scalar loss(), against the gradient loss().backward() accumulates. "" or the worst mismatch.
std::string check_parameter_gradients(nn::Module& module, const std::function<Tensor()>& loss,
                                      double h, double atol, double rtol, int64_t* checked) {
  module.zero_grad(true);
  loss().backward();
  std::string worst;
  double worst_excess = 0.0;
  *checked = 0;
  for (const auto& [name, p] : module.named_parameters()) {
    if (!p.grad().defined()) return name + ": no gradient";
    const std::vector<double> analytic = p.grad().to_vector<double>();
    double* data = p.data<double>();
    for (int64_t i = 0; i < p.numel(); ++i) {
      const double original = data[i];
      data[i] = original + h;
      p.bump_version();
      const double plus = value(loss());
      data[i] = original - h;
      p.bump_version();
      const double minus = value(loss());
      data[i] = original;
      p.bump_version();
      const double numeric = (plus - minus) / (2 * h);
      const double excess = std::abs(analytic[i] - numeric) - (atol + rtol * std::abs(numeric));
      if (excess > worst_excess) {
        worst_excess = excess;
        worst = name + "[" + std::to_string(i) + "]: backward " + std::to_string(analytic[i]) +
                ", finite differences " + std::to_string(numeric);
      }
      ++*checked;
    }
  }
  return worst;
}

// The critic of the finite-difference tests: 16x16x3 images, filters {4, 8}, 4 classes.
CriticConfig small_critic(bool layer_norm) {
  CriticConfig c;
  c.num_classes = 4;
  c.image_size = 16;
  c.in_channels = 3;
  c.filters = {4, 8};
  c.layer_norm = layer_norm;
  return c;
}

void expect_critic_loss_gradient_matches_finite_differences(bool layer_norm) {
  RandomGenerator gen(31);
  ProjectionCritic critic(small_critic(layer_norm), gen);
  critic.to(DType::Float64);
  const Tensor real = uniform({3, 16, 16, 3}, 32), fake = uniform({3, 16, 16, 3}, 33);
  const Tensor alpha = uniform({3, 1, 1, 1}, 34, 0.0, 1.0);
  const Tensor y = labels_of({0, 3, 1});
  const CriticFn fn = critic_fn(critic);
  auto loss_with = [&](double weight) {
    return [&, weight] {
      return wgan_gp_critic_loss(fn, real, fake, y, alpha, {.penalty_weight = weight}).loss;
    };
  };
  // The penalty must matter here, or the check would not test the double backward.
  const double penalty = value(gradient_penalty(fn, real, fake, y, alpha));
  EXPECT_GT(penalty, 1e-2) << "the penalty is too small to test its gradient";

  int64_t checked = 0;
  // Leaky ReLU kinks: with these seeds no pre-activation lies within h of 0.
  EXPECT_EQ(check_parameter_gradients(critic, loss_with(10.0), 1e-6, 1e-6, 1e-5, &checked), "");
  EXPECT_EQ(checked, critic.num_trainable_parameters());
  std::map<std::string, Tensor> with_penalty;
  for (const auto& [name, p] : critic.named_parameters()) with_penalty[name] = p.grad().clone();
  // And the penalty's share of the gradient is large against the tolerance: with weight 0 the
  // gradients differ from those above by far more than the check allows.
  critic.zero_grad(true);
  loss_with(0.0)().backward();
  double differs = 0.0;
  for (const auto& [name, p] : critic.named_parameters())
    differs = std::max(differs, max_abs_diff(p.grad(), with_penalty[name]));
  EXPECT_GT(differs, 1e-2);
}

TEST(GanLosses, WganGpCriticLossGradientMatchesFiniteDifferences) {
  expect_critic_loss_gradient_matches_finite_differences(false);
}

TEST(GanLosses, WganGpCriticLossGradientMatchesFiniteDifferencesWithLayerNorm) {
  expect_critic_loss_gradient_matches_finite_differences(true);
}

TEST(GanLosses, CudaCriticLossAndGradientsMatchCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : {DType::Float64, DType::Float32}) {
    for (bool layer_norm : {false, true}) {
      // Same seed, same weights; one copy moves to the GPU.
      RandomGenerator gen_cpu(41), gen_gpu(41);
      ProjectionCritic cpu(small_critic(layer_norm), gen_cpu),
          gpu(small_critic(layer_norm), gen_gpu);
      cpu.to(dt);
      gpu.to(dt);
      gpu.to(Device::cuda(0));
      const Tensor real = uniform({4, 16, 16, 3}, 42, -1, 1, dt);
      const Tensor fake = uniform({4, 16, 16, 3}, 43, -1, 1, dt);
      const Tensor alpha = uniform({4, 1, 1, 1}, 44, 0, 1, dt);
      const Tensor y = labels_of({0, 3, 1, 3});
      const Device g = Device::cuda(0);
      const CriticLossParts a = wgan_gp_critic_loss(critic_fn(cpu), real, fake, y, alpha);
      const CriticLossParts b =
          wgan_gp_critic_loss(critic_fn(gpu), real.to(g), fake.to(g), y.to(g), alpha.to(g));
      a.loss.backward();
      b.loss.backward();
      const bool f64 = dt == DType::Float64;
      // float32: a second-order quantity through two convolutions, where cuDNN's algorithms and
      // summation orders differ from the CPU's in the last bits of each layer.
      const testing::Tolerance fwd =
          f64 ? testing::Tolerance{1e-9, 1e-11} : testing::Tolerance{1e-3, 1e-5};
      const testing::Tolerance bwd =
          f64 ? testing::Tolerance{1e-8, 1e-10} : testing::Tolerance{5e-3, 1e-4};
      const std::string what = std::string(dtype_name(dt)) + (layer_norm ? " layer norm" : "");
      EXPECT_EQ(testing::compare_tensors(b.loss, a.loss, fwd, "loss " + what), "");
      EXPECT_EQ(testing::compare_tensors(b.penalty, a.penalty, fwd, "penalty " + what), "");
      const auto gp = gpu.named_parameters();
      const auto cp = cpu.named_parameters();
      ASSERT_EQ(gp.size(), cp.size());
      for (size_t i = 0; i < cp.size(); ++i) {
        ASSERT_EQ(gp[i].first, cp[i].first);
        EXPECT_EQ(testing::compare_tensors(gp[i].second.grad(), cp[i].second.grad(), bwd,
                                           cp[i].first + " " + what),
                  "");
      }
    }
  }
}

TEST(GanLosses, AdamStepsLowerTheCriticLoss) {
  // The WGAN-GP paper's optimizer settings: Adam lr 1e-4, betas (0.0, 0.9). Real images are a smooth
  // pattern, fake ones noise; the critic learns to tell them apart, so the WGAN-GP loss (on a
  // fixed alpha, to compare like with like) goes down.
  RandomGenerator gen(51);
  ProjectionCritic critic(small_critic(false), gen);
  Tensor real = add_scalar(mul_scalar(uniform({8, 16, 16, 3}, 52, 0, 1, DType::Float32), 0.1), 0.5);
  const Tensor fake = uniform({8, 16, 16, 3}, 53, -1, 1, DType::Float32);
  const Tensor y = labels_of({0, 1, 2, 3, 0, 1, 2, 3});
  const Tensor alpha = uniform({8, 1, 1, 1}, 54, 0, 1, DType::Float32);
  const CriticFn fn = critic_fn(critic);
  optim::Adam adam(critic.parameters(), {.lr = 1e-4, .beta1 = 0.0, .beta2 = 0.9});
  const double before = value(wgan_gp_critic_loss(fn, real, fake, y, alpha).loss);
  RandomGenerator alpha_gen(55);
  std::vector<double> losses;
  for (int step = 0; step < 20; ++step) {
    adam.zero_grad();
    CriticLossParts parts = wgan_gp_critic_loss(fn, real, fake, y, alpha_gen);
    parts.loss.backward();
    adam.step();
    losses.push_back(value(parts.loss));
  }
  const double after = value(wgan_gp_critic_loss(fn, real, fake, y, alpha).loss);
  EXPECT_LT(after, before - 0.1 * std::abs(before)) << "before " << before << ", after " << after;
  EXPECT_TRUE(std::isfinite(after));
}

TEST(GanLosses, SameSeedBitIdenticalLosses) {
  auto run = [] {
    RandomGenerator gen(61);
    ProjectionCritic critic(small_critic(true), gen);
    RandomGenerator alpha_gen(62);
    const Tensor real = uniform({4, 16, 16, 3}, 63, -1, 1, DType::Float32);
    const Tensor fake = uniform({4, 16, 16, 3}, 64, -1, 1, DType::Float32);
    CriticLossParts parts =
        wgan_gp_critic_loss(critic_fn(critic), real, fake, labels_of({0, 1, 2, 3}), alpha_gen);
    parts.loss.backward();
    return std::make_pair(value(parts.loss),
                          critic.named_parameters()[0].second.grad().to_vector<float>());
  };
  const auto a = run(), b = run();
  EXPECT_EQ(a.first, b.first);
  EXPECT_EQ(a.second, b.second);
}

TEST(GanLosses, InterpolationWeightsAreUniformPerSample) {
  RandomGenerator gen(71);
  const Tensor like = zeros({1000, 2, 2, 3});
  const Tensor alpha = interpolation_weights(like, gen);
  EXPECT_EQ(alpha.shape(), Shape({1000, 1, 1, 1}));
  EXPECT_EQ(alpha.dtype(), DType::Float32);
  const std::vector<float> v = alpha.to_vector<float>();
  double m = 0;
  for (float a : v) {
    ASSERT_GE(a, 0.0f);
    ASSERT_LT(a, 1.0f);
    m += a / v.size();
  }
  EXPECT_NEAR(m, 0.5, 0.03);  // U[0, 1): mean 1/2, standard error 0.29 / sqrt(1000) = 0.009
  RandomGenerator again(71);
  EXPECT_EQ(interpolation_weights(like, again).to_vector<float>(), v);
}

TEST(GanLosses, CriticStepLeavesTheGeneratorAloneGeneratorStepReachesIt) {
  RandomGenerator gen(81);
  models::GeneratorConfig gc;
  gc.num_classes = 4;
  gc.latent_dim = 8;
  gc.embedding_dim = 4;
  gc.base_channels = 8;
  gc.stage_filters = {8, 4};
  gc.image_size = 16;
  models::ConditionalGenerator generator(gc, gen);
  ProjectionCritic critic(small_critic(false), gen);
  const Tensor y = labels_of({0, 1, 2});
  RandomGenerator noise(82);
  const Tensor fake = generator(rand_normal({3, 8}, noise), y);
  const Tensor real = uniform({3, 16, 16, 3}, 83, -1, 1, DType::Float32);
  wgan_gp_critic_loss(critic_fn(critic), real, fake.detach(), y, noise).loss.backward();
  for (const Tensor& p : generator.parameters()) EXPECT_FALSE(p.grad().defined());
  critic.zero_grad(true);
  wgan_generator_loss(critic_fn(critic), fake, y).backward();
  EXPECT_TRUE(generator.named_parameters()[0].second.grad().defined());
}

TEST(GanLosses, ErrorsNameTheProblem) {
  const CriticFn flat = [](const Tensor& x, const Tensor&) { return sum(x, {1, 2, 3}); };  // [N]
  const Tensor real = uniform({2, 3, 3, 1}, 1), fake = uniform({2, 3, 3, 1}, 2);
  const Tensor alpha = uniform({2, 1, 1, 1}, 3, 0, 1);
  const Tensor y = labels_of({0, 1});
  EXPECT_ERROR_MENTIONS(wgan_gp_critic_loss(flat, real, fake, y, alpha), "scores [2, 1]");
  const CriticFn ok = [](const Tensor& x, const Tensor&) {
    return reshape(sum(x, {1, 2, 3}), {-1, 1});
  };
  EXPECT_ERROR_MENTIONS(gradient_penalty(ok, real, fake, y, uniform({2, 1}, 4)),
                        "alpha must be [2, 1, 1, 1]");
  EXPECT_ERROR_MENTIONS(gradient_penalty(ok, real, uniform({2, 3, 3, 2}, 5), y, alpha),
                        "gradient_penalty");
  EXPECT_ERROR_MENTIONS(bce_discriminator_loss(ok, real, fake, labels_of({0})),
                        "labels must be [2]");
  EXPECT_ERROR_MENTIONS(wgan_gp_critic_loss(ok, real, fake, y, alpha, {.penalty_weight = -1}),
                        "penalty_weight");
}

}  // namespace
}  // namespace ember::training
