// Exponential moving average of weights (optim/ema.h): averages after each update against hand
// computations, TensorFlow's num_updates warm-up, swap-in/restore keeping the tensor handles,
// buffers left as the model's own, save/load and its errors.
#include <gtest/gtest.h>

#include <vector>

#include "nn/layers.h"
#include "ops/ops.h"
#include "optim/ema.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using optim::ExponentialMovingAverage;

Tensor param(std::vector<double> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return from_vector<double>(v, {n}, {.dtype = DType::Float64, .requires_grad = true});
}

void set(const Tensor& p, std::vector<double> v) {
  copy_(p, from_vector<double>(v, p.shape(), {.dtype = p.dtype()}));
}

void expect_values(const Tensor& t, const std::vector<double>& want, double tol = 1e-12) {
  const std::vector<double> got = t.to_vector<double>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

TEST(Ema, AveragesAfterEachUpdate) {
  Tensor p = param({1.0, 2.0});
  ExponentialMovingAverage ema({{"p", p}}, 0.9);
  expect_values(ema.shadow(0), {1.0, 2.0});  // starts as a copy
  set(p, {2.0, 4.0});
  ema.update();  // 0.9 * [1, 2] + 0.1 * [2, 4] = [1.1, 2.2]
  expect_values(ema.shadow(0), {1.1, 2.2});
  set(p, {0.0, 0.0});
  ema.update();  // 0.9 * [1.1, 2.2] = [0.99, 1.98]
  expect_values(ema.shadow(0), {0.99, 1.98});
  EXPECT_EQ(ema.num_updates(), 2);
}

TEST(Ema, NumUpdatesWarmup) {
  Tensor p = param({0.0});
  ExponentialMovingAverage ema({{"p", p}}, 0.999, /*num_updates_warmup=*/true);
  EXPECT_DOUBLE_EQ(ema.next_decay(), 0.1);  // min(0.999, 1 / 10)
  set(p, {1.0});
  ema.update();  // 0.1 * 0 + 0.9 * 1
  expect_values(ema.shadow(0), {0.9});
  EXPECT_DOUBLE_EQ(ema.next_decay(), 2.0 / 11.0);
  ema.update();  // 2/11 * 0.9 + 9/11 * 1
  expect_values(ema.shadow(0), {2.0 / 11.0 * 0.9 + 9.0 / 11.0});
}

TEST(Ema, SwapInAndRestoreKeepHandlesAndBuffers) {
  nn::BatchNorm bn(2);
  const Tensor weight = bn.weight();  // ones
  ExponentialMovingAverage ema(bn, 0.5);
  ASSERT_EQ(ema.size(), 2u);
  set(weight, {3.0, 5.0});
  ema.update();  // 0.5 * 1 + 0.5 * [3, 5] = [2, 3]
  set(bn.running_mean(), {7.0, 8.0});
  const auto trained = weight.to_vector<float>();

  ema.swap_in();
  EXPECT_TRUE(ema.swapped_in());
  EXPECT_TRUE(bn.weight().same(weight)) << "the parameter handle is kept";
  expect_values(bn.weight(), {2.0, 3.0});
  expect_values(bn.running_mean(), {7.0, 8.0});  // buffers: the model's own, not averaged
  EXPECT_ERROR_MENTIONS(ema.update(), "restore() first");
  EXPECT_ERROR_MENTIONS(ema.swap_in(), "twice");
  ema.restore();
  EXPECT_EQ(bn.weight().to_vector<float>(), trained);
  EXPECT_ERROR_MENTIONS(ema.restore(), "without swap_in");
}

TEST(Ema, ShadowFollowsAModelConvertedAfterConstruction) {
  nn::BatchNorm bn(2);
  ExponentialMovingAverage ema(bn, 0.5);
  bn.to(DType::Float64);
  set(bn.weight(), {3.0, 5.0});
  ema.update();  // 0.5 * 1 + 0.5 * [3, 5]
  EXPECT_EQ(ema.shadow(0).dtype(), DType::Float64);
  expect_values(ema.shadow(0), {2.0, 3.0});
}

TEST(Ema, SaveLoadRoundTripAndErrors) {
  Tensor p = param({1.0, 2.0});
  ExponentialMovingAverage a({{"w", p}}, 0.9);
  set(p, {2.0, 4.0});
  a.update();
  const optim::OptimizerState st = a.state();
  ASSERT_EQ(st.tensors.size(), 1u);
  EXPECT_EQ(st.tensors[0].first, "w.shadow");

  Tensor q = param({2.0, 4.0});
  ExponentialMovingAverage b({{"w", q}}, 0.9);
  b.load_state(st);
  EXPECT_EQ(b.num_updates(), 1);
  a.update();
  b.update();
  EXPECT_EQ(a.shadow(0).to_vector<double>(), b.shadow(0).to_vector<double>());

  EXPECT_ERROR_MENTIONS(ExponentialMovingAverage({{"v", q}}, 0.9).load_state(st),
                        "no 'v.shadow'");
  EXPECT_ERROR_MENTIONS(ExponentialMovingAverage({{"w", q}}, 0.99).load_state(st), "decay");
  EXPECT_ERROR_MENTIONS(ExponentialMovingAverage({{"w", param({1.0})}}, 0.9).load_state(st),
                        "'w.shadow' is float64[2]");
  EXPECT_ERROR_MENTIONS(ExponentialMovingAverage({{"w", q}, {"x", param({1.0})}}, 0.9).load_state(st),
                        "has 1 averages, this model has 2");
  EXPECT_ERROR_MENTIONS(ExponentialMovingAverage({{"w", q}}, 1.5), "decay must be in [0, 1]");
}

}  // namespace
}  // namespace ember
