// Optimizers: SGD updates checked against hand computations over three steps (plain, momentum,
// Nesterov, weight decay, dampening), in-place updates without per-step allocation, and the
// base class's checks and bookkeeping.
//
// Every case starts from p = [1, -2] with lr = 0.1 and the hand-set gradients
//   g1 = [0.5, 1], g2 = [-1, 0.5], g3 = [2, -0.5].
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nn/module.h"
#include "ops/ops.h"
#include "optim/sgd.h"

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

TEST(Optimizer, ZeroGradKeepsMemoryOrDropsGradients) {
  Tensor p = make_param();
  SGD sgd({p});
  p.mutable_grad() = from_vector<double>({1.0, 2.0}, {2}, {.dtype = DType::Float64});
  const void* memory = p.grad().raw_data();
  sgd.zero_grad();
  EXPECT_EQ(p.grad().raw_data(), memory);
  EXPECT_EQ(p.grad().to_vector<double>(), (std::vector<double>{0.0, 0.0}));
  sgd.zero_grad(/*set_to_none=*/true);
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

}  // namespace
}  // namespace ember
