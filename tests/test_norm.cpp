// Normalisation ops (ops/norm.cpp): batch_norm and layer_norm values against naive loops and
// hand computations, running-statistics updates in both conventions, first- and second-order
// gradient checks, the double-backward guard of training batch norm, and argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/norm.h"
#include "tests/expect_error.h"
#include "tests/gradcheck.h"

namespace ember {
namespace {

using testing::random_input;

const TensorOptions kF64{.dtype = DType::Float64};

// float64 values of a random tensor that does not require grad.
Tensor random_values(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0) {
  return random_input(shape, seed, low, high).detach();
}

// Naive per-channel batch norm over the last axis, in double. With `stats` given, uses them
// (inference); else the batch's mean and biased variance, which are returned through mean/var.
std::vector<double> naive_batch_norm(const Tensor& x, const std::vector<double>& w,
                                     const std::vector<double>& b, double eps,
                                     std::vector<double>* mean, std::vector<double>* var,
                                     bool use_given_stats = false) {
  const auto v = x.to_vector<double>();
  const int64_t C = x.shape().back(), M = x.numel() / C;
  if (!use_given_stats) {
    mean->assign(C, 0.0);
    var->assign(C, 0.0);
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t r = 0; r < M; ++r) (*mean)[c] += v[r * C + c] / M;
      for (int64_t r = 0; r < M; ++r) (*var)[c] += (v[r * C + c] - (*mean)[c]) * (v[r * C + c] - (*mean)[c]) / M;
    }
  }
  std::vector<double> y(v.size());
  for (int64_t r = 0; r < M; ++r)
    for (int64_t c = 0; c < C; ++c)
      y[r * C + c] = (v[r * C + c] - (*mean)[c]) / std::sqrt((*var)[c] + eps) * w[c] + b[c];
  return y;
}

// Naive layer norm over the last D elements of each row, in double.
std::vector<double> naive_layer_norm(const Tensor& x, int64_t D, const std::vector<double>& w,
                                     const std::vector<double>& b, double eps) {
  const auto v = x.to_vector<double>();
  const int64_t M = x.numel() / D;
  std::vector<double> y(v.size());
  for (int64_t r = 0; r < M; ++r) {
    double mu = 0, var = 0;
    for (int64_t d = 0; d < D; ++d) mu += v[r * D + d] / D;
    for (int64_t d = 0; d < D; ++d) var += (v[r * D + d] - mu) * (v[r * D + d] - mu) / D;
    for (int64_t d = 0; d < D; ++d)
      y[r * D + d] = (v[r * D + d] - mu) / std::sqrt(var + eps) * (w.empty() ? 1.0 : w[d]) +
                     (b.empty() ? 0.0 : b[d]);
  }
  return y;
}

void expect_near_all(const std::vector<double>& actual, const std::vector<double>& expected,
                     double tol) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], tol) << "at " << i;
}


// ---------------------------------------------------------------------------------------------
// batch_norm forward

TEST(BatchNorm, TrainingForwardByHand) {
  // Channel 0: 1, 2, 3, 4 (mean 2.5, biased var 1.25); channel 1: 0, 0, 2, 2 (mean 1, var 1).
  Tensor x = from_vector<double>({1, 0, 2, 0, 3, 2, 4, 2}, {4, 2}, kF64);
  BatchNormOptions opt;
  opt.eps = 0.0;
  const auto y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), opt).to_vector<double>();
  const double s0 = 1 / std::sqrt(1.25);
  expect_near_all(y, {-1.5 * s0, -1, -0.5 * s0, -1, 0.5 * s0, 1, 1.5 * s0, 1}, 1e-14);
}

TEST(BatchNorm, TrainingForwardMatchesNaiveReference) {
  const Tensor x = random_values({2, 3, 2, 4}, 1, -2.0, 3.0);
  const Tensor w = random_values({4}, 2), b = random_values({4}, 3);
  BatchNormOptions opt;
  std::vector<double> mean, var;
  const auto expected = naive_batch_norm(x, w.to_vector<double>(), b.to_vector<double>(), opt.eps,
                                         &mean, &var);
  expect_near_all(batch_norm(x, w, b, Tensor(), Tensor(), opt).to_vector<double>(), expected, 1e-12);
  // float32 agrees with the float64 reference to float32 precision.
  const auto y32 = batch_norm(x.to(DType::Float32), w.to(DType::Float32), b.to(DType::Float32),
                              Tensor(), Tensor(), opt);
  EXPECT_EQ(y32.dtype(), DType::Float32);
  expect_near_all(y32.to_vector<double>(), expected, 1e-5);
  // A non-contiguous x (a permuted view) gives the same values as its contiguous copy.
  const Tensor xt = permute(random_values({4, 2, 3, 2}, 4), {1, 2, 3, 0});
  ASSERT_FALSE(xt.is_contiguous());
  EXPECT_EQ(batch_norm(xt, w, b, Tensor(), Tensor(), opt).to_vector<double>(),
            batch_norm(xt.contiguous(), w, b, Tensor(), Tensor(), opt).to_vector<double>());
}

TEST(BatchNorm, LargeFloat32BatchMatchesFloat64) {
  // Enough rows for several blocks of the blocked statistics and for the OpenMP paths.
  const Tensor x64 = random_values({8, 16, 16, 32}, 5, 1.0, 3.0);
  const Tensor x32 = x64.to(DType::Float32);
  BatchNormOptions opt;
  std::vector<double> mean, var;
  const auto expected = naive_batch_norm(x64, std::vector<double>(32, 1.0),
                                         std::vector<double>(32, 0.0), opt.eps, &mean, &var);
  expect_near_all(batch_norm(x32, Tensor(), Tensor(), Tensor(), Tensor(), opt).to_vector<double>(),
                  expected, 2e-5);
  // The fused backward in float32 matches float64.
  Tensor a = x32.clone().set_requires_grad(true), c = x64.clone().set_requires_grad(true);
  const Tensor r = random_values({8, 16, 16, 32}, 6);
  const Tensor ga = grad({sum(mul(batch_norm(a, Tensor(), Tensor(), Tensor(), Tensor(), opt),
                                  r.to(DType::Float32)))}, {a})[0];
  const Tensor gc = grad({sum(mul(batch_norm(c, Tensor(), Tensor(), Tensor(), Tensor(), opt), r))}, {c})[0];
  EXPECT_LT(max_abs_diff(ga.to(DType::Float64), gc), 1e-4);
}

TEST(BatchNorm, InferenceForwardUsesRunningStats) {
  const Tensor x = random_values({3, 2, 2, 3}, 7);
  const Tensor w = random_values({3}, 8), b = random_values({3}, 9);
  const Tensor rm = random_values({3}, 10), rv = random_values({3}, 11, 0.5, 2.0);
  BatchNormOptions opt;
  opt.training = false;
  std::vector<double> mean = rm.to_vector<double>(), var = rv.to_vector<double>();
  const auto expected = naive_batch_norm(x, w.to_vector<double>(), b.to_vector<double>(), opt.eps,
                                         &mean, &var, true);
  expect_near_all(batch_norm(x, w, b, rm, rv, opt).to_vector<double>(), expected, 1e-12);
  // Inference leaves the running statistics alone.
  EXPECT_EQ(rm.to_vector<double>(), mean);
  EXPECT_EQ(rv.to_vector<double>(), var);
}

TEST(BatchNorm, RunningStatsKerasConvention) {
  // Channel 0: 1, 2, 3, 4 (mean 2.5, biased var 1.25, unbiased 5/3);
  // channel 1: 0, 0, 2, 2 (mean 1, biased var 1, unbiased 4/3).
  const Tensor x = from_vector<double>({1, 0, 2, 0, 3, 2, 4, 2}, {4, 2}, kF64);
  BatchNormOptions opt;
  opt.momentum = 0.9;
  Tensor rm = from_vector<double>({0, 0}, {2}, kF64), rv = from_vector<double>({1, 1}, {2}, kF64);
  const uint64_t version = rm.version();
  batch_norm(x, Tensor(), Tensor(), rm, rv, opt);
  expect_near_all(rm.to_vector<double>(), {0.25, 0.1}, 1e-15);
  expect_near_all(rv.to_vector<double>(), {0.9 + 0.125, 0.9 + 0.1}, 1e-15);
  EXPECT_GT(rm.version(), version);

  opt.unbiased_running_var = true;  // PyTorch's convention for the variance update
  rm = from_vector<double>({0, 0}, {2}, kF64);
  rv = from_vector<double>({1, 1}, {2}, kF64);
  batch_norm(x, Tensor(), Tensor(), rm, rv, opt);
  expect_near_all(rm.to_vector<double>(), {0.25, 0.1}, 1e-15);
  expect_near_all(rv.to_vector<double>(), {0.9 + 0.1 * 5.0 / 3.0, 0.9 + 0.1 * 4.0 / 3.0}, 1e-15);

  // Normalisation still uses the biased variance.
  const auto y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), opt).to_vector<double>();
  EXPECT_NEAR(y[0], -1.5 / std::sqrt(1.25 + opt.eps), 1e-14);

  // Running statistics may be strided views (every other element of a buffer).
  Tensor buffer = from_vector<double>({0, 7, 0, 7}, {4}, kF64);
  Tensor rm_view = slice(buffer, 0, 0, 4, 2);
  Tensor rv_view = from_vector<double>({1, 1}, {2}, kF64);
  opt.unbiased_running_var = false;
  batch_norm(x, Tensor(), Tensor(), rm_view, rv_view, opt);
  expect_near_all(buffer.to_vector<double>(), {0.25, 7, 0.1, 7}, 1e-15);
}

TEST(BatchNorm, SavedTensorsWatchInPlaceRunningStatUpdates) {
  // A graph that read running_var in inference mode must not silently see a later update.
  const Tensor x = random_input({2, 3}, 12);
  Tensor rm = zeros({3}, kF64), rv = ones({3}, kF64);
  rv.set_requires_grad(true);
  BatchNormOptions infer;
  infer.training = false;
  Tensor y = batch_norm(x, Tensor(), Tensor(), rm, rv, infer);
  {
    NoGradGuard no_grad;
    batch_norm(x.detach(), Tensor(), Tensor(), rm, rv, BatchNormOptions{});
  }
  EXPECT_ERROR_MENTIONS(sum(y).backward(), "modified in place");
}

// ---------------------------------------------------------------------------------------------
// batch_norm gradients

TEST(BatchNorm, TrainingGradcheck) {
  const Tensor x = random_input({2, 2, 2, 3}, 20);
  const Tensor w = random_input({3}, 21, 0.5, 1.5), b = random_input({3}, 22);
  EXPECT_GRADCHECK([](const TensorList& t) {
    return batch_norm(t[0], t[1], t[2], Tensor(), Tensor(), BatchNormOptions{});
  }, {x, w, b});
  // Without affine parameters, and with running statistics being updated on the way.
  EXPECT_GRADCHECK([](const TensorList& t) {
    Tensor rm = zeros({3}, kF64), rv = ones({3}, kF64);
    return batch_norm(t[0], Tensor(), Tensor(), rm, rv, BatchNormOptions{});
  }, {x});
  // A non-contiguous x (permuted view), and gradients for the parameters only.
  const Tensor xp = random_input({3, 2, 2, 2}, 23);
  EXPECT_GRADCHECK([](const TensorList& t) {
    return batch_norm(permute(t[0], {1, 2, 3, 0}), t[1], t[2], Tensor(), Tensor(), BatchNormOptions{});
  }, {xp, w, b});
  EXPECT_GRADCHECK([](const TensorList& t) {
    return batch_norm(t[0], t[1], t[2], Tensor(), Tensor(), BatchNormOptions{});
  }, {x.detach(), w, b});
  // Rank 2 (a dense layer's output [N, C]).
  EXPECT_GRADCHECK([](const TensorList& t) {
    return batch_norm(t[0], t[1], t[2], Tensor(), Tensor(), BatchNormOptions{});
  }, {random_input({5, 3}, 24), w, b});
}

TEST(BatchNorm, InferenceGradcheckAndGradgradcheck) {
  const Tensor x = random_input({2, 2, 2, 3}, 30);
  const Tensor w = random_input({3}, 31), b = random_input({3}, 32);
  const Tensor rm = random_input({3}, 33), rv = random_input({3}, 34, 0.5, 2.0);
  auto f = [](const TensorList& t) {
    BatchNormOptions opt;
    opt.training = false;
    return batch_norm(t[0], t[1], t[2], t[3], t[4], opt);
  };
  EXPECT_GRADCHECK(f, {x, w, b, rm, rv});
  EXPECT_GRADGRADCHECK(f, {x, w, b, rm, rv});
  // Without affine parameters, through a downstream nonlinearity so second derivatives in x
  // matter.
  auto g = [](const TensorList& t) {
    BatchNormOptions opt;
    opt.training = false;
    Tensor y = batch_norm(t[0], Tensor(), Tensor(), t[1], t[2], opt);
    return mul(y, y);
  };
  EXPECT_GRADCHECK(g, {x, rm, rv});
  EXPECT_GRADGRADCHECK(g, {x, rm, rv});
}

TEST(BatchNorm, TrainingDoubleBackwardIsAClearError) {
  Tensor x = random_input({4, 3}, 40);
  Tensor w = random_input({3}, 41);
  Tensor y = batch_norm(x, w, Tensor(), Tensor(), Tensor(), BatchNormOptions{});
  const Tensor r = random_values({4, 3}, 42);
  TensorList g = grad({sum(mul(mul(y, y), r))}, {x, w}, {}, false, /*create_graph=*/true);
  ASSERT_TRUE(g[0].requires_grad());
  const std::string message = testing::error_of([&] { grad({sum(mul(g[0], g[0]))}, {x}); });
  EXPECT_NE(message.find("batch_norm"), std::string::npos) << message;
  EXPECT_NE(message.find("double backward"), std::string::npos) << message;
}

// ---------------------------------------------------------------------------------------------
// batch_norm errors

TEST(BatchNorm, ArgumentErrors) {
  const Tensor x = zeros({2, 3});
  const Tensor c3 = zeros({3});
  BatchNormOptions opt;
  EXPECT_ERROR_MENTIONS(batch_norm(zeros({3}), c3, c3, Tensor(), Tensor(), opt), "rank >= 2");
  EXPECT_ERROR_MENTIONS(batch_norm(x, zeros({4}), Tensor(), Tensor(), Tensor(), opt), "weight");
  EXPECT_ERROR_MENTIONS(batch_norm(x, Tensor(), zeros({3, 1}), Tensor(), Tensor(), opt), "bias");
  EXPECT_ERROR_MENTIONS(batch_norm(x, Tensor(), Tensor(), zeros({2}), ones({3}), opt), "running_mean");
  EXPECT_ERROR_MENTIONS(batch_norm(x, Tensor(), Tensor(), zeros({3}), ones({2}), opt), "running_var");
  EXPECT_ERROR_MENTIONS(batch_norm(x, zeros({3}, kF64), Tensor(), Tensor(), Tensor(), opt), "dtype");
  EXPECT_ERROR_MENTIONS(batch_norm(x, Tensor(), Tensor(), zeros({3}), Tensor(), opt), "together");
  EXPECT_ERROR_MENTIONS(batch_norm(zeros({2, 3}, {.dtype = DType::Int32}), Tensor(), Tensor(),
                                   Tensor(), Tensor(), opt), "float32 or float64");
  opt.unbiased_running_var = true;
  EXPECT_ERROR_MENTIONS(batch_norm(zeros({1, 3}), Tensor(), Tensor(), zeros({3}), ones({3}), opt),
                        "more than one value per channel");
  opt.training = false;
  EXPECT_ERROR_MENTIONS(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), opt), "inference");
}

// ---------------------------------------------------------------------------------------------
// layer_norm

TEST(LayerNorm, ForwardMatchesNaiveReference) {
  const Tensor x = random_values({2, 3, 4}, 50, -1.0, 2.0);
  const double eps = 1e-5;
  // Without affine parameters, over the last axis and over the last two.
  expect_near_all(layer_norm(x, 1, Tensor(), Tensor(), eps).to_vector<double>(),
                  naive_layer_norm(x, 4, {}, {}, eps), 1e-12);
  expect_near_all(layer_norm(x, 2, Tensor(), Tensor(), eps).to_vector<double>(),
                  naive_layer_norm(x, 12, {}, {}, eps), 1e-12);
  // With affine parameters shaped like the normalised axes.
  const Tensor w = random_values({3, 4}, 51), b = random_values({3, 4}, 52);
  expect_near_all(layer_norm(x, 2, w, b, eps).to_vector<double>(),
                  naive_layer_norm(x, 12, w.to_vector<double>(), b.to_vector<double>(), eps), 1e-12);
  // Over every axis, and a float32 input.
  expect_near_all(layer_norm(x, 3, Tensor(), Tensor(), eps).to_vector<double>(),
                  naive_layer_norm(x, 24, {}, {}, eps), 1e-12);
  expect_near_all(layer_norm(x.to(DType::Float32), 2, w.to(DType::Float32), b.to(DType::Float32), eps)
                      .to_vector<double>(),
                  naive_layer_norm(x, 12, w.to_vector<double>(), b.to_vector<double>(), eps), 1e-5);
}

TEST(LayerNorm, ForwardByHand) {
  // Row 1, 3: mean 2, variance 1 -> -1, 1; then * w + b.
  const Tensor x = from_vector<double>({1, 3}, {1, 2}, kF64);
  const Tensor w = from_vector<double>({2, 3}, {2}, kF64), b = from_vector<double>({0.5, -1}, {2}, kF64);
  expect_near_all(layer_norm(x, 1, w, b, 0.0).to_vector<double>(), {-1.5, 2.0}, 1e-15);
}

TEST(LayerNorm, Gradcheck) {
  const Tensor x = random_input({2, 2, 3, 2}, 60);
  const Tensor w1 = random_input({2}, 61), b1 = random_input({2}, 62);
  const Tensor w3 = random_input({2, 3, 2}, 63), b3 = random_input({2, 3, 2}, 64);
  EXPECT_GRADCHECK([](const TensorList& t) { return layer_norm(t[0], 1, t[1], t[2]); }, {x, w1, b1});
  EXPECT_GRADCHECK([](const TensorList& t) { return layer_norm(t[0], 3, t[1], t[2]); }, {x, w3, b3});
  EXPECT_GRADCHECK([](const TensorList& t) { return layer_norm(t[0], 3, Tensor(), Tensor()); }, {x});
  // A non-contiguous x, and parameter gradients alone.
  EXPECT_GRADCHECK([](const TensorList& t) {
    return layer_norm(transpose(t[0], 0, 1), 2, t[1], t[2]);
  }, {x, random_input({3, 2}, 65), random_input({3, 2}, 66)});
  EXPECT_GRADCHECK([](const TensorList& t) { return layer_norm(t[0], 1, t[1], t[2]); },
                   {x.detach(), w1, b1});
}

TEST(LayerNorm, GradgradcheckThroughCompositeBackward) {
  const Tensor x = random_input({2, 3, 2}, 70);
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return layer_norm(t[0], 1, t[1], t[2]); },
                       {x, random_input({2}, 71), random_input({2}, 72)});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return layer_norm(t[0], 2, Tensor(), Tensor()); }, {x});
  const Tensor x4 = random_input({1, 2, 2, 2}, 73);
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return layer_norm(t[0], 3, t[1], t[2]); },
                       {x4, random_input({2, 2, 2}, 74), random_input({2, 2, 2}, 75)});
}

TEST(LayerNorm, FusedAndCompositeBackwardAgree) {
  const Tensor w = random_input({3, 4}, 81), b = random_input({3, 4}, 82);
  const Tensor r = random_values({2, 3, 4}, 83);
  auto grads = [&](bool create_graph) {
    Tensor x = random_input({2, 3, 4}, 80);
    Tensor wl = w.detach().clone().set_requires_grad(true);
    Tensor bl = b.detach().clone().set_requires_grad(true);
    TensorList g = grad({sum(mul(layer_norm(x, 2, wl, bl), r))}, {x, wl, bl}, {}, false, create_graph);
    EXPECT_EQ(g[0].requires_grad(), create_graph);  // the composite path records a graph
    return g;
  };
  const TensorList fused = grads(false), composite = grads(true);
  for (size_t i = 0; i < 3; ++i) EXPECT_LT(max_abs_diff(fused[i], composite[i]), 1e-12) << i;
  EXPECT_GT(max_abs_diff(fused[0], zeros_like(fused[0])), 1e-3);  // not vacuously zero
}

TEST(LayerNorm, ArgumentErrors) {
  const Tensor x = zeros({2, 3, 4});
  EXPECT_ERROR_MENTIONS(layer_norm(x, 0, Tensor(), Tensor()), "normalized_ndim");
  EXPECT_ERROR_MENTIONS(layer_norm(x, 4, Tensor(), Tensor()), "normalized_ndim");
  EXPECT_ERROR_MENTIONS(layer_norm(x, 2, zeros({4}), Tensor()), "weight");
  EXPECT_ERROR_MENTIONS(layer_norm(x, 1, Tensor(), zeros({3})), "bias");
  EXPECT_ERROR_MENTIONS(layer_norm(x, 1, zeros({4}, kF64), Tensor()), "dtype");
}

// An empty batch still defines the parameter gradients: sums over zero rows, i.e. zeros (found
// by the CUDA emulator, tools/emulate_cuda, where the GPU kernel wrote zeros and the CPU did not).
// The outputs start as NaN sentinels, so a kernel that skips them is caught.
TEST(LayerNorm, EmptyBatchKernelWritesZeroParameterGradients) {
  const TensorOptions f64{.dtype = DType::Float64};
  const Tensor x = zeros({0, 4}, f64), dy = zeros({0, 4}, f64), dx = zeros({0, 4}, f64);
  const Tensor mean = zeros({0}, f64), invstd = zeros({0}, f64), w = ones({4}, f64);
  const Tensor dweight = full({4}, std::nan(""), f64), dbias = full({4}, std::nan(""), f64);
  kernels::layer_norm_backward(dx, dweight, dbias, dy, x, w, mean, invstd);
  EXPECT_EQ(dweight.to_vector<double>(), std::vector<double>(4, 0.0));
  EXPECT_EQ(dbias.to_vector<double>(), std::vector<double>(4, 0.0));
}

// No channels: nothing to normalise, and no division by the channel count (which used to crash).
TEST(BatchNorm, ZeroChannelKernelsWriteNothingAndDoNotCrash) {
  const TensorOptions f32{.dtype = DType::Float32};
  const Tensor x = zeros({5, 0}, f32), y = zeros({5, 0}, f32), none = zeros({0}, f32);
  kernels::batch_norm_forward_training(y, none, none, none, x, Tensor(), Tensor(), 1e-3);
  kernels::batch_norm_forward_inference(y, x, Tensor(), Tensor(), none, none, 1e-3);
  kernels::batch_norm_backward(y, none, none, x, x, Tensor(), none, none);
  EXPECT_EQ(y.numel(), 0);
}

}  // namespace
}  // namespace ember
