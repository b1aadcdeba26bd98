// Fused batch norm + swish (batch_norm with BatchNormActivation::Swish, ops/norm.h; kernels
// batch_norm_act_*, kernels/norm.h) on the CPU: values and running statistics against the
// unfused composition silu(batch_norm(x)) and a naive float64 reference, first derivatives by
// finite differences in float64 and against the composition's, the refused double backward in
// training and the supported one in inference, the one-pass statistics' accuracy far from zero
// and their independence of the thread count, and nn::BatchNorm's activation option (same
// parameter and buffer names, same values as BatchNorm then silu).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/norm.h"
#include "nn/layers.h"
#include "tests/expect_error.h"
#include "tensor/dispatch_count.h"
#include "tests/gradcheck.h"

namespace ember {
namespace {

using testing::random_input;

const TensorOptions kF64{.dtype = DType::Float64};

Tensor values(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0) {
  return random_input(shape, seed, low, high).detach();
}

BatchNormOptions swish_options(bool training = true) {
  return {.training = training, .activation = BatchNormActivation::Swish};
}

BatchNormOptions plain_options(bool training = true) { return {.training = training}; }

// What the fused op must equal: the two ops it replaces.
Tensor unfused(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm,
               const Tensor& rv, bool training) {
  return silu(batch_norm(x, w, b, rm, rv, plain_options(training)));
}

// silu of a naive per-channel batch norm over the last axis, in double.
std::vector<double> naive_swish_batch_norm(const Tensor& x, const Tensor& w, const Tensor& b,
                                           double eps) {
  const auto v = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>();
  const int64_t C = x.shape().back(), M = x.numel() / C;
  std::vector<double> y(v.size());
  for (int64_t c = 0; c < C; ++c) {
    double mean = 0, var = 0;
    for (int64_t r = 0; r < M; ++r) mean += v[r * C + c] / M;
    for (int64_t r = 0; r < M; ++r) var += (v[r * C + c] - mean) * (v[r * C + c] - mean) / M;
    for (int64_t r = 0; r < M; ++r) {
      const double z = (v[r * C + c] - mean) / std::sqrt(var + eps) * wv[c] + bv[c];
      y[r * C + c] = z / (1 + std::exp(-z));
    }
  }
  return y;
}

// ---------------------------------------------------------------------------------------------
// Forward

TEST(BatchNormSwish, TrainingForwardMatchesUnfusedAndNaive) {
  const Tensor x = values({2, 5, 3, 6}, 1, -2.0, 3.0);
  const Tensor w = values({6}, 2, 0.5, 1.5), b = values({6}, 3);
  const Tensor y = batch_norm(x, w, b, Tensor(), Tensor(), swish_options());
  EXPECT_LT(max_abs_diff(y, unfused(x, w, b, Tensor(), Tensor(), true)), 1e-15);
  const auto expected = naive_swish_batch_norm(x, w, b, BatchNormOptions{}.eps);
  const auto actual = y.to_vector<double>();
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(actual[i], expected[i], 1e-13) << i;

  // float32: the same kernels' float32 path against the float64 values.
  const Tensor y32 = batch_norm(x.to(DType::Float32), w.to(DType::Float32), b.to(DType::Float32),
                                Tensor(), Tensor(), swish_options());
  EXPECT_EQ(y32.dtype(), DType::Float32);
  EXPECT_LT(max_abs_diff(y32.to(DType::Float64), y), 2e-6);
  const Tensor u32 = unfused(x.to(DType::Float32), w.to(DType::Float32), b.to(DType::Float32),
                             Tensor(), Tensor(), true);
  EXPECT_LT(max_abs_diff(y32, u32), 1e-6);

  // A non-contiguous x (a permuted view) gives its contiguous copy's values.
  const Tensor xt = permute(values({6, 2, 3, 4}, 4), {1, 2, 3, 0});
  ASSERT_FALSE(xt.is_contiguous());
  EXPECT_EQ(batch_norm(xt, w, b, Tensor(), Tensor(), swish_options()).to_vector<double>(),
            batch_norm(xt.contiguous(), w, b, Tensor(), Tensor(), swish_options())
                .to_vector<double>());
}

TEST(BatchNormSwish, RunningStatisticsAsTheUnfusedOp) {
  const Tensor x = values({4, 3, 3, 5}, 10, -1.0, 2.0);
  for (bool unbiased : {false, true}) {
    BatchNormOptions fused_opt = swish_options(), plain_opt = plain_options();
    fused_opt.momentum = plain_opt.momentum = 0.9;
    fused_opt.unbiased_running_var = plain_opt.unbiased_running_var = unbiased;
    // Strided running statistics (every other element of a buffer), updated in place.
    Tensor buf1 = values({10}, 11), buf2 = buf1.clone();
    Tensor rv1 = values({5}, 12, 0.5, 2.0), rv2 = rv1.clone();
    const uint64_t version = rv1.version();
    batch_norm(x, Tensor(), Tensor(), slice(buf1, 0, 0, 10, 2), rv1, fused_opt);
    batch_norm(x, Tensor(), Tensor(), slice(buf2, 0, 0, 10, 2), rv2, plain_opt);
    EXPECT_EQ(buf1.to_vector<double>(), buf2.to_vector<double>()) << unbiased;
    EXPECT_EQ(rv1.to_vector<double>(), rv2.to_vector<double>()) << unbiased;
    EXPECT_GT(rv1.version(), version);
  }
  // By hand (momentum 0.9): channel 0 is 1, 2, 3, 4 (mean 2.5, biased var 1.25, unbiased 5/3).
  const Tensor h = from_vector<double>({1, 2, 3, 4}, {4, 1}, kF64);
  Tensor rm = zeros({1}, kF64), rv = ones({1}, kF64);
  BatchNormOptions opt = swish_options();
  opt.momentum = 0.9;
  opt.unbiased_running_var = true;
  batch_norm(h, Tensor(), Tensor(), rm, rv, opt);
  EXPECT_NEAR(rm.to_vector<double>()[0], 0.25, 1e-15);
  EXPECT_NEAR(rv.to_vector<double>()[0], 0.9 + 0.1 * 5.0 / 3.0, 1e-15);
}

TEST(BatchNormSwish, OnePassStatisticsFarFromZero) {
  // Values 1e6 + U(-1, 1): sum x^2 - (sum x)^2 / n would lose every digit of the variance in
  // float64; the shifted sums keep it. The reference normalises x - 1e6 (exact, and the same
  // batch norm), where even the naive sums are accurate; what is left is x's own rounding at
  // 1e6 (ulp 1.2e-10).
  const Tensor x = values({3000, 2}, 20, -1.0, 1.0) + 1e6;
  const Tensor w = ones({2}, kF64), b = zeros({2}, kF64);
  const auto expected = naive_swish_batch_norm(x - 1e6, w, b, 1e-3);
  const auto actual = batch_norm(x, w, b, Tensor(), Tensor(), swish_options()).to_vector<double>();
  for (size_t i = 0; i < expected.size(); ++i) ASSERT_NEAR(actual[i], expected[i], 1e-9) << i;
}

TEST(BatchNormSwish, BitIdenticalForAnyThreadCount) {
  // 12 blocks of 256 rows, over the OpenMP threshold.
  const Tensor x = values({3000, 40}, 30, -1.0, 3.0).to(DType::Float32);
  const Tensor w = values({40}, 31, 0.5, 1.5).to(DType::Float32);
  const Tensor b = values({40}, 32).to(DType::Float32);
  const Tensor r = values({3000, 40}, 33).to(DType::Float32);
  const int saved = omp_get_max_threads();
  std::vector<std::vector<float>> reference;
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    Tensor xg = x.clone().set_requires_grad(true), wg = w.clone().set_requires_grad(true);
    Tensor rm = zeros({40}), rv = ones({40});
    const Tensor y = batch_norm(xg, wg, b, rm, rv, swish_options());
    const TensorList g = grad({sum(mul(y, r))}, {xg, wg});
    const std::vector<std::vector<float>> got = {y.to_vector<float>(), g[0].to_vector<float>(),
                                                 g[1].to_vector<float>(), rv.to_vector<float>()};
    if (reference.empty()) reference = got;
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], reference[i]) << threads << " " << i;
  }
  omp_set_num_threads(saved);
}

TEST(BatchNormSwish, InferenceForwardMatchesUnfused) {
  const Tensor x = values({3, 4, 2, 5}, 40, -2.0, 2.0);
  const Tensor w = values({5}, 41), b = values({5}, 42);
  const Tensor rm = values({5}, 43), rv = values({5}, 44, 0.5, 2.0);
  const auto fused = batch_norm(x, w, b, rm, rv, swish_options(false));
  // float64: the same arithmetic in the same order, so the same bits.
  EXPECT_EQ(fused.to_vector<double>(), unfused(x, w, b, rm, rv, false).to_vector<double>());
  auto f32 = [](const Tensor& t) { return t.to(DType::Float32); };
  EXPECT_LT(max_abs_diff(batch_norm(f32(x), f32(w), f32(b), f32(rm), f32(rv), swish_options(false)),
                         unfused(f32(x), f32(w), f32(b), f32(rm), f32(rv), false)),
            1e-6);
  // Inference leaves the running statistics alone.
  EXPECT_EQ(rm.to_vector<double>(), values({5}, 43).to_vector<double>());
}

// ---------------------------------------------------------------------------------------------
// Gradients

TEST(BatchNormSwish, TrainingGradcheck) {
  const Tensor x = random_input({2, 2, 3, 3}, 50, -2.0, 2.0);
  const Tensor w = random_input({3}, 51, 0.5, 1.5), b = random_input({3}, 52);
  auto f = [](const TensorList& t) {
    return batch_norm(t[0], t[1], t[2], Tensor(), Tensor(), swish_options());
  };
  EXPECT_GRADCHECK(f, {x, w, b});
  EXPECT_GRADCHECK(f, {x.detach(), w, b});  // parameter gradients alone
  EXPECT_GRADCHECK(f, {x, w.detach(), b.detach()});  // dx alone
  // Without affine parameters, with running statistics updated on the way.
  EXPECT_GRADCHECK([](const TensorList& t) {
    Tensor rm = zeros({3}, kF64), rv = ones({3}, kF64);
    return batch_norm(t[0], Tensor(), Tensor(), rm, rv, swish_options());
  }, {x});
  // A non-contiguous x, and rank 2 (a dense layer's output).
  EXPECT_GRADCHECK([](const TensorList& t) {
    return batch_norm(permute(t[0], {1, 2, 3, 0}), t[1], t[2], Tensor(), Tensor(), swish_options());
  }, {random_input({3, 2, 2, 2}, 53), w, b});
  EXPECT_GRADCHECK(f, {random_input({7, 3}, 54, -2.0, 2.0), w, b});
}

TEST(BatchNormSwish, TrainingGradientsMatchUnfused) {
  const Tensor r = values({4, 3, 3, 8}, 61);
  for (DType dtype : {DType::Float64, DType::Float32}) {
    auto grads = [&](bool fused) {
      Tensor x = values({4, 3, 3, 8}, 60, -2.0, 3.0).to(dtype).set_requires_grad(true);
      Tensor w = values({8}, 62, 0.5, 1.5).to(dtype).set_requires_grad(true);
      Tensor b = values({8}, 63).to(dtype).set_requires_grad(true);
      const Tensor y = fused ? batch_norm(x, w, b, Tensor(), Tensor(), swish_options())
                             : unfused(x, w, b, Tensor(), Tensor(), true);
      return grad({sum(mul(y, r.to(dtype)))}, {x, w, b});
    };
    const TensorList a = grads(true), u = grads(false);
    const double tol = dtype == DType::Float64 ? 1e-13 : 2e-5;
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_LT(max_abs_diff(a[i], u[i]), tol) << dtype_name(dtype) << " input " << i;
      EXPECT_GT(max_abs_diff(a[i], zeros_like(a[i])), 1e-3) << i;  // not vacuously zero
    }
  }
}

TEST(BatchNormSwish, TrainingDoubleBackwardIsAClearError) {
  Tensor x = random_input({4, 3}, 70);
  Tensor w = random_input({3}, 71);
  Tensor y = batch_norm(x, w, Tensor(), Tensor(), Tensor(), swish_options());
  TensorList g = grad({sum(mul(y, values({4, 3}, 72)))}, {x, w}, {}, false, /*create_graph=*/true);
  ASSERT_TRUE(g[0].requires_grad());
  const std::string message = testing::error_of([&] { grad({sum(mul(g[0], g[0]))}, {x}); });
  EXPECT_NE(message.find("batch_norm"), std::string::npos) << message;
  EXPECT_NE(message.find("double backward"), std::string::npos) << message;
}

TEST(BatchNormSwish, InferenceGradcheckAndGradgradcheck) {
  // With a gradient wanted, inference falls back to silu(batch_norm(x)): double backward works.
  auto f = [](const TensorList& t) {
    return batch_norm(t[0], t[1], t[2], t[3], t[4], swish_options(false));
  };
  const TensorList in = {random_input({2, 2, 2, 3}, 80, -2.0, 2.0), random_input({3}, 81),
                         random_input({3}, 82), random_input({3}, 83),
                         random_input({3}, 84, 0.5, 2.0)};
  EXPECT_GRADCHECK(f, in);
  EXPECT_GRADGRADCHECK(f, in);
}

// ---------------------------------------------------------------------------------------------
// Dispatches (tensor/dispatch_count.h)

using DispatchRows = std::vector<std::pair<std::string, uint64_t>>;

// One training BN + swish costs one dispatch forward (statistics, y, running statistics) and one
// backward (dx, dweight, dbias through swish); the unfused ops took 3 and 2.
TEST(BatchNormSwish, OneDispatchForwardAndOneBackward) {
  const Tensor x = values({2, 3, 3, 4}, 100).to(DType::Float32).set_requires_grad(true);
  const Tensor w = ones({4}).set_requires_grad(true), b = zeros({4}).set_requires_grad(true);
  Tensor rm = zeros({4}), rv = ones({4});
  const Tensor dy = values({2, 3, 3, 4}, 101).to(DType::Float32);
  for (bool swish : {true, false}) {
    Tensor y;
    {
      DispatchTally tally;
      y = batch_norm(x, w, b, rm, rv, swish ? swish_options() : plain_options());
      EXPECT_EQ(tally.by_name(), (DispatchRows{{"batch_norm (fused training forward)", 1}}));
    }
    DispatchTally tally;
    grad({y}, {x, w, b}, {dy});
    EXPECT_EQ(tally.by_name(), (DispatchRows{{"batch_norm (fused backward)", 1}})) << swish;
  }
  // Inference with nothing to differentiate: one dispatch too.
  NoGradGuard no_grad;
  DispatchTally tally;
  batch_norm(x, w, b, rm, rv, swish_options(false));
  EXPECT_EQ(tally.by_name(), (DispatchRows{{"batch_norm (fused inference forward)", 1}}));
}

// ---------------------------------------------------------------------------------------------
// Layer and kernels

TEST(BatchNormSwish, LayerOptionKeepsNamesAndMatchesBatchNormThenSilu) {
  nn::BatchNorm plain(6), fused(6, {.activation = BatchNormActivation::Swish});
  EXPECT_EQ(fused.name(), "BatchNorm(6, swish)");
  auto names = [](const nn::NamedTensors& list) {
    std::vector<std::string> out;
    for (const auto& [name, t] : list) out.push_back(name);
    return out;
  };
  EXPECT_EQ(names(fused.named_parameters()), names(plain.named_parameters()));
  EXPECT_EQ(names(fused.named_buffers()), names(plain.named_buffers()));
  const Tensor x = values({2, 3, 3, 6}, 90, -1.0, 2.0).to(DType::Float32);
  for (bool training : {true, false}) {
    plain.train(training);
    fused.train(training);
    const Tensor expected = silu(plain(x)), actual = fused(x);
    EXPECT_LT(max_abs_diff(actual, expected), 1e-6) << training;
    EXPECT_EQ(fused.running_var().to_vector<float>(), plain.running_var().to_vector<float>());
  }
}

TEST(BatchNormSwish, ZeroChannelKernelsWriteNothingAndDoNotCrash) {
  const TensorOptions f32{.dtype = DType::Float32};
  const Tensor x = zeros({5, 0}, f32), y = zeros({5, 0}, f32), none = zeros({0}, f32);
  for (auto act : {kernels::NormActivation::Identity, kernels::NormActivation::Swish}) {
    kernels::batch_norm_act_forward_training(y, none, none, x, Tensor(), Tensor(),
                                             {none, none, 0.9, true}, 1e-3, act);
    kernels::batch_norm_act_forward_inference(y, x, Tensor(), Tensor(), none, none, 1e-3, act);
    kernels::batch_norm_act_backward(y, none, none, x, x, Tensor(), Tensor(), none, none, act);
  }
  EXPECT_EQ(y.numel(), 0);
}

}  // namespace
}  // namespace ember
