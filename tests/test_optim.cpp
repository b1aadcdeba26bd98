// Optimizers: SGD updates checked against hand computations over three steps (plain, momentum,
// Nesterov, weight decay, dampening), in-place updates without per-step allocation, and the
// base class's checks and bookkeeping.
//
// Every case starts from p = [1, -2] with lr = 0.1 and the hand-set gradients
//   g1 = [0.5, 1], g2 = [-1, 0.5], g3 = [2, -0.5].
// The fused kernels of kernels/optim.h (suites SgdKernel, AdamKernel): sgd_step against the
// composite add_/mul_ update SGD used before it, adam_step against a scalar hand computation of
// PyTorch's Adam/AdamW, and their argument checks.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/optim.h"
#include "nn/module.h"
#include "ops/ops.h"
#include "optim/sgd.h"
#include "tests/device_compare.h"

namespace ember {
namespace {

using optim::SGD;
using optim::SGDOptions;
using Trajectory = std::vector<std::vector<double>>;

const Trajectory kGrads = {{0.5, 1.0}, {-1.0, 0.5}, {2.0, -0.5}};

Tensor make_param(DType dtype = DType::Float64) {
  return from_vector<double>({1.0, -2.0}, {2}, {.dtype = dtype, .requires_grad = true});
}

// Runs three steps with the gradients above and returns p after each step.
Trajectory run_sgd(const SGDOptions& options, DType dtype = DType::Float64) {
  Tensor p = make_param(dtype);
  SGD sgd({p}, options);
  Trajectory out;
  for (const auto& g : kGrads) {
    p.mutable_grad() = from_vector<double>(g, {2}, {.dtype = dtype});
    sgd.step();
    out.push_back(p.to_vector<double>());
  }
  return out;
}

void expect_trajectory(const Trajectory& got, const Trajectory& want, double tol = 1e-12) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t step = 0; step < want.size(); ++step) {
    for (size_t i = 0; i < want[step].size(); ++i) {
      EXPECT_NEAR(got[step][i], want[step][i], tol) << "step " << step + 1 << ", element " << i;
    }
  }
}

TEST(Sgd, PlainStepsMatchHandComputation) {
  // p <- p - 0.1 g: [1, -2] - [0.05, 0.1] = [0.95, -2.1]; + [0.1, -0.05] = [1.05, -2.15];
  // - [0.2, -0.05] = [0.85, -2.1].
  expect_trajectory(run_sgd({.lr = 0.1}), {{0.95, -2.1}, {1.05, -2.15}, {0.85, -2.1}});
}

TEST(Sgd, MomentumStepsMatchHandComputation) {
  // b1 = g1 = [0.5, 1]                          p1 = [0.95, -2.1]
  // b2 = 0.9 b1 + g2 = [-0.55, 1.4]             p2 = p1 - 0.1 b2 = [1.005, -2.24]
  // b3 = 0.9 b2 + g3 = [1.505, 0.76]            p3 = [0.8545, -2.316]
  expect_trajectory(run_sgd({.lr = 0.1, .momentum = 0.9}),
                    {{0.95, -2.1}, {1.005, -2.24}, {0.8545, -2.316}});
}

TEST(Sgd, NesterovStepsMatchHandComputation) {
  // The buffers are those of plain momentum; the step is d = g + 0.9 b:
  // d1 = 1.9 g1 = [0.95, 1.9]                   p1 = [0.905, -2.19]
  // d2 = g2 + 0.9 [-0.55, 1.4] = [-1.495, 1.76] p2 = [1.0545, -2.366]
  // d3 = g3 + 0.9 [1.505, 0.76] = [3.3545, 0.184] p3 = [0.71905, -2.3844]
  expect_trajectory(run_sgd({.lr = 0.1, .momentum = 0.9, .nesterov = true}),
                    {{0.905, -2.19}, {1.0545, -2.366}, {0.71905, -2.3844}});
}

TEST(Sgd, WeightDecayIsAddedToTheGradient) {
  // d = g + 0.1 p:
  // d1 = [0.6, 0.8]                             p1 = [0.94, -2.08]
  // d2 = [-0.906, 0.292]                        p2 = [1.0306, -2.1092]
  // d3 = [2.10306, -0.71092]                    p3 = [0.820294, -2.038108]
  expect_trajectory(run_sgd({.lr = 0.1, .weight_decay = 0.1}),
                    {{0.94, -2.08}, {1.0306, -2.1092}, {0.820294, -2.038108}});
}

TEST(Sgd, WeightDecayWithMomentum) {
  // b1 = d1 = [0.6, 0.8]                        p1 = [0.94, -2.08]
  // d2 = [-0.906, 0.292], b2 = [-0.366, 1.012]  p2 = [0.9766, -2.1812]
  // d3 = [2.09766, -0.71812], b3 = [1.76826, 0.19268]  p3 = [0.799774, -2.200468]
  expect_trajectory(run_sgd({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1}),
                    {{0.94, -2.08}, {0.9766, -2.1812}, {0.799774, -2.200468}});
}

TEST(Sgd, WeightDecayWithNesterov) {
  // d1 = [0.6, 0.8], b1 = d1, step d1 + 0.9 b1 = [1.14, 1.52]        p1 = [0.886, -2.152]
  // d2 = [-0.9114, 0.2848], b2 = [-0.3714, 1.0048], step [-1.24566, 1.18912]
  //                                                                  p2 = [1.010566, -2.270912]
  // d3 = [2.1010566, -0.7270912], b3 = [1.7667966, 0.1772288], step [3.69117354, -0.56758528]
  //                                                          p3 = [0.641448646, -2.214153472]
  expect_trajectory(run_sgd({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true}),
                    {{0.886, -2.152}, {1.010566, -2.270912}, {0.641448646, -2.214153472}});
}

TEST(Sgd, DampeningSkipsTheFirstStep) {
  // PyTorch: b1 = g1 (undamped), then b = 0.9 b + 0.5 g:
  // b2 = [0.45 - 0.5, 0.9 + 0.25] = [-0.05, 1.15]   p2 = [0.955, -2.215]
  // b3 = [-0.045 + 1, 1.035 - 0.25] = [0.955, 0.785] p3 = [0.8595, -2.2935]
  expect_trajectory(run_sgd({.lr = 0.1, .momentum = 0.9, .dampening = 0.5}),
                    {{0.95, -2.1}, {0.955, -2.215}, {0.8595, -2.2935}});
}

TEST(Sgd, Float32MatchesFloat64) {
  const SGDOptions options{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true};
  expect_trajectory(run_sgd(options, DType::Float32), run_sgd(options), 1e-6);
}

TEST(Sgd, UpdatesInPlaceWithoutNewAllocations) {
  Tensor p = make_param();
  SGD sgd({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  EXPECT_FALSE(sgd.momentum_buffer(0).defined());
  const void* param_memory = p.raw_data();
  p.mutable_grad() = from_vector<double>(kGrads[0], {2}, {.dtype = DType::Float64});
  const void* grad_memory = p.grad().raw_data();
  sgd.step();
  ASSERT_TRUE(sgd.momentum_buffer(0).defined());
  const void* buffer_memory = sgd.momentum_buffer(0).raw_data();
  EXPECT_NE(buffer_memory, grad_memory);  // the buffer is a copy, never an alias of .grad
  for (int i = 0; i < 3; ++i) {
    sgd.step();
    EXPECT_EQ(p.raw_data(), param_memory);
    EXPECT_EQ(sgd.momentum_buffer(0).raw_data(), buffer_memory);
    EXPECT_EQ(p.grad().raw_data(), grad_memory);
  }
  // The gradient itself is left untouched by the update.
  EXPECT_EQ(p.grad().to_vector<double>(), kGrads[0]);
  EXPECT_EQ(sgd.step_count(), 4);
}

TEST(Sgd, MomentumBufferFollowsAModelMovedAfterAStep) {
  class One : public nn::Module {
   public:
    One() { p = register_parameter("p", from_vector<double>({1.0, -2.0}, {2})); }
    Tensor p;
  };
  One m;  // float32
  SGD sgd(m.parameters(), {.lr = 0.1, .momentum = 0.9});
  m.p.mutable_grad() = from_vector<double>(kGrads[0], {2});
  sgd.step();
  m.to(DType::Float64);
  m.p.mutable_grad() = from_vector<double>(kGrads[1], {2}, {.dtype = DType::Float64});
  sgd.step();
  EXPECT_EQ(sgd.momentum_buffer(0).dtype(), DType::Float64);
  // The momentum trajectory's second step, up to the float32 first step.
  EXPECT_NEAR(m.p.to_vector<double>()[0], 1.005, 1e-6);
  EXPECT_NEAR(m.p.to_vector<double>()[1], -2.24, 1e-6);
}

TEST(Sgd, ParametersWithoutGradientAreSkipped) {
  Tensor a = make_param();
  Tensor b = make_param();
  SGD sgd({a, b}, {.lr = 0.1, .momentum = 0.9});
  a.mutable_grad() = from_vector<double>({1.0, 1.0}, {2}, {.dtype = DType::Float64});
  sgd.step();
  EXPECT_EQ(a.to_vector<double>(), (std::vector<double>{0.9, -2.1}));
  EXPECT_EQ(b.to_vector<double>(), (std::vector<double>{1.0, -2.0}));
  EXPECT_FALSE(sgd.momentum_buffer(1).defined());
}

TEST(Sgd, LearningRateCanBeChangedBetweenSteps) {
  Tensor p = make_param();
  SGD sgd({p}, {.lr = 0.1});
  p.mutable_grad() = from_vector<double>({1.0, 1.0}, {2}, {.dtype = DType::Float64});
  sgd.step();
  sgd.set_lr(0.5);
  EXPECT_EQ(sgd.lr(), 0.5);
  sgd.step();
  // 1 - 0.1 - 0.5, -2 - 0.1 - 0.5
  EXPECT_NEAR(p.to_vector<double>()[0], 0.4, 1e-15);
  EXPECT_NEAR(p.to_vector<double>()[1], -2.6, 1e-15);
  EXPECT_THROW(sgd.set_lr(-1.0), Error);
}

TEST(Sgd, TrainsThroughAutogradAndZeroGrad) {
  // Minimise sum((p - t)^2) with gradients from backward(); zero_grad between steps.
  Tensor p = make_param();
  const Tensor target = from_vector<double>({3.0, 1.0}, {2}, {.dtype = DType::Float64});
  SGD sgd({p}, {.lr = 0.25});
  for (int i = 0; i < 2; ++i) {
    sgd.zero_grad();
    sum(pow(p - target, 2.0)).backward();
    sgd.step();
  }
  // Each step: p <- p - 0.25 * 2 (p - t) = (p + t) / 2. [1, -2] -> [2, -0.5] -> [2.5, 0.25].
  EXPECT_EQ(p.to_vector<double>(), (std::vector<double>{2.5, 0.25}));
}

TEST(Optimizer, ZeroGradDropsGradientsOrKeepsTheirMemory) {
  Tensor p = make_param();
  SGD sgd({p});
  p.mutable_grad() = from_vector<double>({1.0, 2.0}, {2}, {.dtype = DType::Float64});
  const void* memory = p.grad().raw_data();
  sgd.zero_grad(/*set_to_none=*/false);
  EXPECT_EQ(p.grad().raw_data(), memory);
  EXPECT_EQ(p.grad().to_vector<double>(), (std::vector<double>{0.0, 0.0}));
  sgd.zero_grad();  // the default drops them, as PyTorch's
  EXPECT_FALSE(p.grad().defined());
}

TEST(Optimizer, RejectsBadParameterLists) {
  Tensor p = make_param();
  EXPECT_THROW(SGD({}, {}), Error);
  EXPECT_THROW(SGD({p, p}, {}), Error);
  EXPECT_THROW(SGD({zeros({2})}, {}), Error);    // does not require grad
  EXPECT_THROW(SGD({mul_scalar(p, 2.0)}, {}), Error);  // not a leaf
  try {
    SGD sgd({p, zeros({3})}, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parameter 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[3]"), std::string::npos) << e.what();
  }
}

TEST(Sgd, RejectsBadOptions) {
  Tensor p = make_param();
  EXPECT_THROW(SGD({p}, {.lr = -0.1}), Error);
  EXPECT_THROW(SGD({p}, {.momentum = -0.5}), Error);
  EXPECT_THROW(SGD({p}, {.weight_decay = -1.0}), Error);
  EXPECT_THROW(SGD({p}, {.nesterov = true}), Error);  // needs momentum
  EXPECT_THROW(SGD({p}, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}), Error);
}

TEST(Sgd, MismatchedGradientIsAClearError) {
  Tensor p = make_param();
  SGD sgd({p});
  p.mutable_grad() = zeros({3}, {.dtype = DType::Float64});
  try {
    sgd.step();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SGD"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[3]"), std::string::npos) << e.what();
  }
  EXPECT_EQ(sgd.step_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Fused kernels (kernels/optim.h)

struct SgdConfig {
  double momentum, dampening, weight_decay;
  bool nesterov;
};
const std::vector<SgdConfig> kSgdConfigs = {
    {0.0, 0.0, 0.0, false}, {0.0, 0.0, 0.01, false}, {0.9, 0.0, 0.0, false},
    {0.9, 0.3, 0.01, false}, {0.9, 0.0, 0.01, true},
};

// The composite update optim/sgd.cpp ran before the fused kernel (add_/mul_/copy_ on whole
// tensors), kept here as the reference.
void composite_sgd(const Tensor& p, const Tensor& g, Tensor& b, double lr, const SgdConfig& c) {
  if (c.momentum == 0.0) {
    if (c.weight_decay != 0.0) mul_(p, 1.0 - lr * c.weight_decay);
    add_(p, g, -lr);
    return;
  }
  if (!b.defined()) {
    b = empty_like(p);
    copy_(b, g);
    if (c.weight_decay != 0.0) add_(b, p, c.weight_decay);
  } else {
    const double keep = 1.0 - c.dampening;
    mul_(b, c.momentum);
    add_(b, g, keep);
    if (c.weight_decay != 0.0) add_(b, p, keep * c.weight_decay);
  }
  if (c.nesterov) {
    if (c.weight_decay != 0.0) mul_(p, 1.0 - lr * c.weight_decay);
    add_(p, g, -lr);
    add_(p, b, -lr * c.momentum);
  } else {
    add_(p, b, -lr);
  }
}

TEST(SgdKernel, MatchesCompositeUpdate) {
  // 40000 elements: above the parallel threshold of kernels/cpu/optim.cpp.
  for (DType dtype : {DType::Float64, DType::Float32}) {
    for (const SgdConfig& c : kSgdConfigs) {
      const Tensor start = testing::random_tensor({40000}, 7, dtype, -1.0, 1.0);
      Tensor p_fused = start.clone(), p_ref = start.clone();
      Tensor b_fused = c.momentum != 0.0 ? empty_like(start) : Tensor(), b_ref;
      for (int step = 0; step < 3; ++step) {
        const Tensor g = testing::random_tensor({40000}, 100 + step, dtype, -1.0, 1.0);
        kernels::sgd_step(p_fused, g, b_fused, 0.1, c.momentum, c.dampening, c.weight_decay,
                          c.nesterov, step == 0);
        composite_sgd(p_ref, g, b_ref, 0.1, c);
      }
      // float32: the fused kernel rounds once per value, the composite once per operation.
      const testing::Tolerance tol =
          dtype == DType::Float64 ? testing::Tolerance{1e-13, 1e-14} : testing::Tolerance{1e-6, 1e-6};
      const std::string what = std::string(dtype_name(dtype)) + " momentum " +
                               std::to_string(c.momentum) + " wd " +
                               std::to_string(c.weight_decay) + (c.nesterov ? " nesterov" : "");
      EXPECT_EQ(testing::compare_tensors(p_fused, p_ref, tol, "param " + what), "");
      if (c.momentum != 0.0) {
        EXPECT_EQ(testing::compare_tensors(b_fused, b_ref, tol, "buffer " + what), "");
      }
      EXPECT_GT(max_abs_diff(p_fused, start), 0.01);  // the steps moved the parameter
    }
  }
}

TEST(SgdKernel, FirstStepIgnoresTheBufferContents) {
  Tensor p = make_param();
  p.set_requires_grad(false);
  Tensor b = full({2}, std::nan(""), {.dtype = DType::Float64});
  const Tensor g = from_vector<double>({0.5, 1.0}, {2}, {.dtype = DType::Float64});
  kernels::sgd_step(p, g, b, 0.1, 0.9, 0.5, 0.0, false, /*first_step=*/true);
  // b = g; p = p - 0.1 * b (dampening does not apply to the first step).
  EXPECT_EQ(b.to_vector<double>(), (std::vector<double>{0.5, 1.0}));
  EXPECT_NEAR(p.to_vector<double>()[0], 0.95, 1e-15);
  EXPECT_NEAR(p.to_vector<double>()[1], -2.1, 1e-15);
}

struct AdamConfig {
  double weight_decay;
  bool decoupled;
};

// Adam by hand, one scalar at a time, in the textbook form with bias-corrected moments:
// p -= lr * m_hat / (sqrt(v_hat) + eps) with m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t).
std::vector<double> hand_adam(const AdamConfig& c, double lr, double b1, double b2, double eps) {
  std::vector<double> p = {1.0, -2.0}, m = {0.0, 0.0}, v = {0.0, 0.0};
  for (size_t t = 1; t <= kGrads.size(); ++t) {
    for (size_t i = 0; i < p.size(); ++i) {
      double g = kGrads[t - 1][i];
      if (c.decoupled) p[i] -= lr * c.weight_decay * p[i];
      else g += c.weight_decay * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const double m_hat = m[i] / (1 - std::pow(b1, static_cast<double>(t)));
      const double v_hat = v[i] / (1 - std::pow(b2, static_cast<double>(t)));
      p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
  return p;
}

TEST(AdamKernel, MatchesHandComputation) {
  for (DType dtype : {DType::Float64, DType::Float32}) {
    for (const AdamConfig& c : {AdamConfig{0.0, false}, AdamConfig{0.1, false},
                                AdamConfig{0.1, true}}) {
      Tensor p = make_param(dtype);
      p.set_requires_grad(false);
      Tensor m = zeros({2}, {.dtype = dtype}), v = zeros({2}, {.dtype = dtype});
      for (size_t t = 1; t <= kGrads.size(); ++t)
        kernels::adam_step(p, from_vector<double>(kGrads[t - 1], {2}, {.dtype = dtype}), m, v,
                           0.1, 0.9, 0.999, 1e-8, c.weight_decay, c.decoupled,
                           static_cast<int64_t>(t));
      const std::vector<double> want = hand_adam(c, 0.1, 0.9, 0.999, 1e-8);
      const std::vector<double> got = p.to_vector<double>();
      const double tol = dtype == DType::Float64 ? 1e-12 : 1e-6;
      for (size_t i = 0; i < want.size(); ++i)
        EXPECT_NEAR(got[i], want[i], tol) << dtype_name(dtype) << " wd " << c.weight_decay
                                          << (c.decoupled ? " AdamW" : " Adam") << " element " << i;
    }
  }
}

TEST(AdamKernel, FirstStepMovesEachElementByAboutLr) {
  // With zero moments, step 1 gives m_hat = g and v_hat = g^2: p moves by lr * sign(g).
  Tensor p = from_vector<double>({1.0, -2.0, 3.0}, {3}, {.dtype = DType::Float64});
  Tensor m = zeros({3}, {.dtype = DType::Float64}), v = zeros({3}, {.dtype = DType::Float64});
  const Tensor g = from_vector<double>({0.5, -4.0, 1e-3}, {3}, {.dtype = DType::Float64});
  kernels::adam_step(p, g, m, v, 0.01, 0.9, 0.999, 1e-12, 0.0, false, 1);
  const std::vector<double> got = p.to_vector<double>();
  EXPECT_NEAR(got[0], 0.99, 1e-9);
  EXPECT_NEAR(got[1], -1.99, 1e-9);
  EXPECT_NEAR(got[2], 2.99, 1e-8);
}

TEST(OptimKernels, RejectMismatchedOperands) {
  const Tensor p = zeros({4}, {.dtype = DType::Float64});
  const Tensor g3 = zeros({3}, {.dtype = DType::Float64});
  const Tensor g32 = zeros({4}, {.dtype = DType::Float32});
  const Tensor g = zeros({4}, {.dtype = DType::Float64});
  EXPECT_THROW(kernels::sgd_step(p, g3, Tensor(), 0.1, 0.0, 0.0, 0.0, false, true), Error);
  EXPECT_THROW(kernels::sgd_step(p, g32, Tensor(), 0.1, 0.0, 0.0, 0.0, false, true), Error);
  // A momentum buffer is required with momentum.
  EXPECT_THROW(kernels::sgd_step(p, g, Tensor(), 0.1, 0.9, 0.0, 0.0, false, true), Error);
  // Strided param.
  const Tensor wide = zeros({8}, {.dtype = DType::Float64});
  EXPECT_THROW(kernels::sgd_step(wide.slice(0, 0, 8, 2), g, Tensor(), 0.1, 0.0, 0.0, 0.0, false,
                                 true),
               Error);
  const Tensor m = zeros({4}, {.dtype = DType::Float64}), v = zeros({4}, {.dtype = DType::Float64});
  EXPECT_THROW(kernels::adam_step(p, g, m, v, 0.1, 0.9, 0.999, 1e-8, 0.0, false, 0), Error);
  EXPECT_THROW(kernels::adam_step(p, g, m, g3, 0.1, 0.9, 0.999, 1e-8, 0.0, false, 1), Error);
  EXPECT_NO_THROW(kernels::adam_step(p, g, m, v, 0.1, 0.9, 0.999, 1e-8, 0.0, false, 1));
}

}  // namespace
}  // namespace ember
