// Adam and AdamW (optim/adam.h): three-step trajectories against a hand computation of
// PyTorch's formulas, the lazily created per-parameter state (and its following a model
// converted after a step), and the option checks.
//
// Every case starts from p = [1, -2] with lr = 0.1, betas (0.9, 0.999), eps 1e-8 and the
// gradients g1 = [0.5, 1], g2 = [-1, 0.5], g3 = [2, -0.5]. The expected values were computed by
// hand (a scalar Python transcription of torch.optim.Adam/AdamW's update, in double). Step 1 can
// be checked by eye: the bias-corrected moments are g and g^2, so p moves by
// lr * g / (|g| + eps) = 0.1 * sign(g) * (1 - 2e-8 / |g|): [0.900000002, -2.099999999].
#include <gtest/gtest.h>

#include <vector>

#include "nn/layers.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "tests/device_compare.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using optim::Adam;
using optim::AdamOptions;
using optim::AdamW;
using testing::random_tensor;
using Trajectory = std::vector<std::vector<double>>;

const Trajectory kGrads = {{0.5, 1.0}, {-1.0, 0.5}, {2.0, -0.5}};

template <typename Opt>
Trajectory run(const AdamOptions& options, DType dtype = DType::Float64) {
  Tensor p = from_vector<double>({1.0, -2.0}, {2}, {.dtype = dtype, .requires_grad = true});
  Opt opt({p}, options);
  Trajectory out;
  for (const auto& g : kGrads) {
    p.mutable_grad() = from_vector<double>(g, {2}, {.dtype = dtype});
    opt.step();
    out.push_back(p.to_vector<double>());
  }
  return out;
}

void expect_trajectory(const Trajectory& got, const Trajectory& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t s = 0; s < want.size(); ++s)
    for (size_t i = 0; i < want[s].size(); ++i)
      EXPECT_NEAR(got[s][i], want[s][i], tol) << "step " << s + 1 << ", element " << i;
}

TEST(AdamOptimizer, MatchesHandComputation) {
  expect_trajectory(run<Adam>({.lr = 0.1}),
                    {{0.900000002, -2.099999999},
                     {0.9366103542405654, -2.193217961701839},
                     {0.8946447927181046, -2.2328884850675794}},
                    1e-12);
}

TEST(AdamOptimizer, CoupledWeightDecayMatchesHandComputation) {
  // Adam adds 0.1 * p to the gradient: step 1 sees g = [0.6, 0.8], still a move of ~lr.
  expect_trajectory(run<Adam>({.lr = 0.1, .weight_decay = 0.1}),
                    {{0.9000000016666666, -2.09999999875},
                     {0.9252635194456061, -2.1883622761652832},
                     {0.8776172608049325, -2.199273797635592}},
                    1e-12);
}

TEST(AdamOptimizer, AdamWDecoupledWeightDecayMatchesHandComputation) {
  // AdamW first shrinks p by (1 - lr * wd) = 0.99: step 1 gives [0.99 - 0.1, -1.98 - 0.1].
  expect_trajectory(run<AdamW>({.lr = 0.1, .weight_decay = 0.1}),
                    {{0.890000002, -2.079999999},
                     {0.9177103542205653, -2.152417961711839},
                     {0.8665676891558989, -2.170564305460461}},
                    1e-12);
}

TEST(AdamOptimizer, Float32FollowsTheFloat64Trajectory) {
  expect_trajectory(run<AdamW>({.lr = 0.1, .weight_decay = 0.1}, DType::Float32),
                    run<AdamW>({.lr = 0.1, .weight_decay = 0.1}, DType::Float64), 1e-6);
}

TEST(AdamOptimizer, AdamWDefaultsToPyTorchWeightDecay) {
  Tensor p = from_vector<double>({1.0}, {1}, {.dtype = DType::Float64, .requires_grad = true});
  AdamW w({p});
  EXPECT_EQ(w.options().weight_decay, 0.01);
  EXPECT_EQ(w.options().lr, 1e-3);
  EXPECT_TRUE(w.decoupled());
  EXPECT_EQ(w.name(), "AdamW");
  Adam a({p});
  EXPECT_EQ(a.options().weight_decay, 0.0);
  EXPECT_FALSE(a.decoupled());
}

TEST(AdamOptimizer, StateIsPerParameterAndLazy) {
  Tensor a = from_vector<double>({1.0, 2.0}, {2}, {.dtype = DType::Float64, .requires_grad = true});
  Tensor b = from_vector<double>({3.0}, {1}, {.dtype = DType::Float64, .requires_grad = true});
  Adam opt({a, b}, {.lr = 0.1});
  EXPECT_FALSE(opt.exp_avg(0).defined());
  a.mutable_grad() = from_vector<double>({0.5, 1.0}, {2}, {.dtype = DType::Float64});
  opt.step();  // b has no grad: skipped, no state
  EXPECT_EQ(opt.param_step(0), 1);
  EXPECT_EQ(opt.param_step(1), 0);
  EXPECT_FALSE(opt.exp_avg(1).defined());
  EXPECT_EQ(b.to_vector<double>(), std::vector<double>({3.0}));
  // m = 0.1 g, v = 0.001 g^2 after one step.
  EXPECT_NEAR(opt.exp_avg(0).to_vector<double>()[1], 0.1, 1e-15);
  EXPECT_NEAR(opt.exp_avg_sq(0).to_vector<double>()[1], 0.001, 1e-15);

  // b's first step uses bias correction for t = 1 even though the optimizer made two steps.
  b.mutable_grad() = from_vector<double>({-2.0}, {1}, {.dtype = DType::Float64});
  opt.step();
  EXPECT_EQ(opt.param_step(0), 2);
  EXPECT_EQ(opt.param_step(1), 1);
  EXPECT_EQ(opt.step_count(), 2);
  EXPECT_NEAR(b.to_vector<double>()[0], 3.1, 1e-8);
  // The moments are updated in place: the same tensor after another step.
  const Tensor m = opt.exp_avg(0);
  opt.step();
  EXPECT_TRUE(m.same(opt.exp_avg(0)));
}

TEST(AdamOptimizer, StateFollowsAModelConvertedAfterAStep) {
  // module.to(dtype) replaces the parameters' storage in place; the moments must follow (the
  // same path as module.to(device), which tests/test_cuda_optim_state.cpp covers on a GPU).
  RandomGenerator gen_a(7), gen_b(7);
  nn::Linear a(5, 3, gen_a), b(5, 3, gen_b);
  Adam opt_a(a.parameters(), {.lr = 0.01});
  Adam opt_b(b.parameters(), {.lr = 0.01});
  auto step = [](nn::Linear& m, Adam& opt, int s) {
    const Tensor x = random_tensor({4, 5}, 100 + s, m.weight().dtype());
    opt.zero_grad();
    sum(mul(m.forward(x), m.forward(x))).backward();
    opt.step();
  };
  step(a, opt_a, 0);
  step(b, opt_b, 0);
  b.to(DType::Float64);
  for (int s = 1; s < 3; ++s) {
    step(a, opt_a, s);
    step(b, opt_b, s);
  }
  EXPECT_EQ(opt_b.exp_avg(0).dtype(), DType::Float64);
  for (size_t i = 0; i < 2; ++i) {
    const auto want = a.parameters()[i].to_vector<double>();
    const auto got = b.parameters()[i].to_vector<double>();
    for (size_t j = 0; j < want.size(); ++j) EXPECT_NEAR(got[j], want[j], 1e-5) << i << "," << j;
  }
}

TEST(AdamOptimizer, RejectsBadOptions) {
  Tensor p = from_vector<double>({1.0}, {1}, {.dtype = DType::Float64, .requires_grad = true});
  EXPECT_ERROR_MENTIONS(Adam({p}, {.beta1 = 1.0}), "beta1");
  EXPECT_ERROR_MENTIONS(Adam({p}, {.beta2 = -0.1}), "beta2");
  EXPECT_ERROR_MENTIONS(Adam({p}, {.eps = -1.0}), "eps");
  EXPECT_ERROR_MENTIONS(AdamW({p}, {.weight_decay = -1.0}), "AdamW: weight_decay");
  EXPECT_ERROR_MENTIONS(Adam({p}, {.lr = -1.0}), "learning rate");
}

}  // namespace
}  // namespace ember
