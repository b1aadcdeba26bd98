// Losses: values PyTorch gives (derived by hand here) and a naive reference loop for
// cross_entropy with class weights and label smoothing, gradients in closed form, first and
// second order gradient checks, numerical stability of bce_with_logits, and error messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "tests/expect_error.h"
#include "tests/gradcheck.h"

namespace ember {
namespace {

using testing::expect_error;

using testing::random_input;

const TensorOptions kF64{.dtype = DType::Float64};
const TensorOptions kI64{.dtype = DType::Int64};

Tensor labels(const std::vector<int64_t>& values) {
  return from_vector(values, {static_cast<int64_t>(values.size())}, kI64);
}


// PyTorch's cross_entropy, one sample at a time: loss_i = (1 - eps) w[t_i] (-logp[i, t_i]) +
// eps / C sum_c w[c] (-logp[i, c]); result sum_i loss_i / sum_i w[t_i]. Empty w means ones.
double cross_entropy_reference(const std::vector<double>& x, int64_t N, int64_t C,
                               const std::vector<int64_t>& t, const std::vector<double>& w,
                               double eps) {
  double total = 0, weight_total = 0;
  for (int64_t i = 0; i < N; ++i) {
    const double* row = x.data() + i * C;
    const double m = *std::max_element(row, row + C);
    double z = 0;
    for (int64_t c = 0; c < C; ++c) z += std::exp(row[c] - m);
    const double lse = m + std::log(z);
    auto weight = [&](int64_t c) { return w.empty() ? 1.0 : w[c]; };
    double smooth = 0;
    for (int64_t c = 0; c < C; ++c) smooth += weight(c) * (lse - row[c]);
    total += (1 - eps) * weight(t[i]) * (lse - row[t[i]]) + eps / C * smooth;
    weight_total += weight(t[i]);
  }
  return total / weight_total;
}

TEST(Loss, CrossEntropyKnownValues) {
  Tensor logits = from_vector<double>({1, 2, 3}, {1, 3}, kF64);
  // -log softmax([1, 2, 3])[2] = log(e^1 + e^2 + e^3) - 3 = log(1 + e^-1 + e^-2) ~ 0.4076.
  const double base = std::log(1 + std::exp(-1.0) + std::exp(-2.0));
  EXPECT_NEAR(cross_entropy(logits, labels({2})).item<double>(), base, 1e-15);
  // eps = 0.1: 0.9 (lse - 3) + 0.1/3 (3 lse - 6) = lse - 2.9 = base + 0.1 ~ 0.5076.
  EXPECT_NEAR(cross_entropy(logits, labels({2}), Tensor(), 0.1).item<double>(), base + 0.1, 1e-15);
  // Class weights [1, 2, 3] on two samples with targets 0 and 2: (1 * nll_0 + 3 * nll_1) / 4.
  Tensor two = from_vector<double>({1, 2, 3, 3, 1, 0}, {2, 3}, kF64);
  Tensor w = from_vector<double>({1, 2, 3}, {3}, kF64);
  const double nll0 = std::log(std::exp(1) + std::exp(2) + std::exp(3)) - 1;
  const double nll1 = std::log(std::exp(3) + std::exp(1) + 1) - 0;
  EXPECT_NEAR(cross_entropy(two, labels({0, 2}), w).item<double>(), (nll0 + 3 * nll1) / 4, 1e-14);
  // float32 gives the same to float precision.
  EXPECT_NEAR(cross_entropy(logits.to(DType::Float32), labels({2})).item<float>(), base, 1e-6);
}

TEST(Loss, CrossEntropyMatchesReferenceLoop) {
  const int64_t N = 4, C = 5;
  const Tensor x = random_input({N, C}, 1, -3.0, 3.0).detach();
  const std::vector<double> xv = x.to_vector<double>();
  const std::vector<int64_t> t{3, 0, 4, 3};
  const std::vector<double> wv{0.5, 1.0, 2.0, 0.25, 1.5};
  const Tensor w = from_vector(wv, {C}, kF64);
  for (double eps : {0.0, 0.1, 0.35, 1.0}) {
    EXPECT_NEAR(cross_entropy(x, labels(t), Tensor(), eps).item<double>(),
                cross_entropy_reference(xv, N, C, t, {}, eps), 1e-13) << "eps " << eps;
    EXPECT_NEAR(cross_entropy(x, labels(t), w, eps).item<double>(),
                cross_entropy_reference(xv, N, C, t, wv, eps), 1e-13) << "weighted, eps " << eps;
  }
}

TEST(Loss, CrossEntropyGradientIsSoftmaxMinusOneHot) {
  Tensor x = from_vector<double>({1, 2, 3, 0.5, -1, 2}, {2, 3}, kF64).set_requires_grad(true);
  cross_entropy(x, labels({0, 2})).backward();
  const auto p = softmax(x.detach(), 1).to_vector<double>();
  const auto g = x.grad().to_vector<double>();
  const std::vector<double> onehot{1, 0, 0, 0, 0, 1};
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], (p[i] - onehot[i]) / 2, 1e-15);
}

TEST(Loss, CrossEntropyGradcheck) {
  const Tensor x = random_input({3, 4}, 2, -2.0, 2.0);
  const Tensor w = random_input({4}, 3, 0.5, 2.0);
  const Tensor t = labels({1, 3, 1});
  EXPECT_GRADCHECK([&](const TensorList& a) { return cross_entropy(a[0], t); }, {x});
  EXPECT_GRADCHECK([&](const TensorList& a) { return cross_entropy(a[0], t, Tensor(), 0.2); }, {x});
  EXPECT_GRADCHECK([&](const TensorList& a) { return cross_entropy(a[0], t, a[1], 0.2); }, {x, w});
  // Strided logits: a transposed view.
  EXPECT_GRADCHECK([&](const TensorList& a) { return cross_entropy(transpose(a[0], 0, 1), t, a[1]); },
                   {random_input({4, 3}, 4), w});
}

TEST(Loss, CrossEntropyGradgradcheck) {
  const Tensor x = random_input({3, 4}, 5, -2.0, 2.0);
  const Tensor w = random_input({4}, 6, 0.5, 2.0);
  const Tensor t = labels({2, 0, 2});
  EXPECT_GRADGRADCHECK([&](const TensorList& a) { return cross_entropy(a[0], t); }, {x});
  EXPECT_GRADGRADCHECK([&](const TensorList& a) { return cross_entropy(a[0], t, a[1], 0.1); }, {x, w});
}

TEST(Loss, MseLoss) {
  Tensor p = from_vector<double>({1, 2, 3}, {3}, kF64);
  Tensor y = from_vector<double>({0, 2, 5}, {3}, kF64);
  EXPECT_NEAR(mse_loss(p, y).item<double>(), 5.0 / 3.0, 1e-15);
  const Tensor a = random_input({2, 3}, 7), b = random_input({2, 3}, 8);
  EXPECT_GRADCHECK([](const TensorList& t) { return mse_loss(t[0], t[1]); }, {a, b});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return mse_loss(t[0], t[1]); }, {a, b});
}

double bce_reference(double x, double y) {
  const double s = 1 / (1 + std::exp(-x));
  return -(y * std::log(s) + (1 - y) * std::log(1 - s));
}

TEST(Loss, BceWithLogitsValues) {
  const std::vector<double> xv{-2, -0.5, 0, 0.5, 3, 1.25};
  const std::vector<double> yv{0, 1, 0.3, 0.7, 1, 0};
  double expected = 0;
  for (size_t i = 0; i < xv.size(); ++i) expected += bce_reference(xv[i], yv[i]) / xv.size();
  Tensor x = from_vector(xv, {2, 3}, kF64), y = from_vector(yv, {2, 3}, kF64);
  EXPECT_NEAR(bce_with_logits(x, y).item<double>(), expected, 1e-15);
  EXPECT_NEAR(bce_with_logits(x.to(DType::Float32), y.to(DType::Float32)).item<float>(), expected, 1e-6);
}

TEST(Loss, BceWithLogitsIsStableForLargeLogits) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    // Confidently wrong: each term is |x| = 100. Confidently right: log(1 + e^-100) ~ 0.
    Tensor x = from_vector<double>({100, -100}, {2}, {.dtype = dtype});
    EXPECT_NEAR(bce_with_logits(x, from_vector<double>({0, 1}, {2}, {.dtype = dtype})).item<double>(),
                100.0, 1e-4);
    EXPECT_NEAR(bce_with_logits(x, from_vector<double>({1, 0}, {2}, {.dtype = dtype})).item<double>(),
                0.0, 1e-30);
  }
}

TEST(Loss, BceWithLogitsGradientIsExactAtZero) {
  Tensor x = from_vector<double>({0, 0, 2}, {3}, kF64).set_requires_grad(true);
  Tensor y = from_vector<double>({0.3, 1, 0.25}, {3}, kF64).set_requires_grad(true);
  bce_with_logits(x, y).backward();
  const auto gx = x.grad().to_vector<double>(), gy = y.grad().to_vector<double>();
  EXPECT_DOUBLE_EQ(gx[0], (0.5 - 0.3) / 3);
  EXPECT_DOUBLE_EQ(gx[1], (0.5 - 1.0) / 3);
  EXPECT_NEAR(gx[2], (1 / (1 + std::exp(-2.0)) - 0.25) / 3, 1e-16);
  EXPECT_EQ(gy[0], 0.0);  // d/dy = -x / n
  EXPECT_EQ(gy[1], 0.0);
  EXPECT_DOUBLE_EQ(gy[2], -2.0 / 3);
}

TEST(Loss, BceWithLogitsGradcheck) {
  const Tensor x = random_input({2, 3}, 9, -3.0, 3.0);
  const Tensor y = random_input({2, 3}, 10, 0.0, 1.0);
  EXPECT_GRADCHECK([](const TensorList& t) { return bce_with_logits(t[0], t[1]); }, {x, y});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return bce_with_logits(t[0], t[1]); }, {x, y});
  // Only the logits require grad (the usual case): the target gets no gradient.
  Tensor target = y.detach();
  EXPECT_GRADGRADCHECK([&](const TensorList& t) { return bce_with_logits(t[0], target); }, {x});
}

TEST(Loss, ErrorsNameTheProblem) {
  Tensor logits = zeros({2, 3}, kF64);
  expect_error([&] { cross_entropy(logits, zeros({2})); }, {"cross_entropy", "int64", "float32[2]"});
  expect_error([&] { cross_entropy(logits, zeros({2}, {.dtype = DType::Int32})); },
               {"cross_entropy", "int64", "int32[2]"});
  expect_error([&] { cross_entropy(logits, labels({0, 3})); },
               {"cross_entropy", "label 3", "sample 1", "[0, 3)"});
  expect_error([&] { cross_entropy(logits, labels({-1, 0})); }, {"label -1", "sample 0"});
  expect_error([&] { cross_entropy(logits, labels({0, 1, 2})); }, {"target", "int64[3]", "[2]"});
  expect_error([&] { cross_entropy(zeros({3}, kF64), labels({0})); }, {"logits", "[N, C]"});
  expect_error([&] { cross_entropy(logits, labels({0, 1}), zeros({2}, kF64)); },
               {"class_weight", "float64[2]", "[C] = [3]"});
  expect_error([&] { cross_entropy(logits, labels({0, 1}), zeros({3})); },
               {"cross_entropy", "different dtypes"});
  expect_error([&] { cross_entropy(logits, labels({0, 1}), Tensor(), 1.5); }, {"label_smoothing"});
  expect_error([&] { bce_with_logits(logits, zeros({3, 2}, kF64)); },
               {"bce_with_logits", "[2, 3]", "[3, 2]"});
  expect_error([&] { mse_loss(logits, zeros({2, 3})); }, {"mse_loss", "float32", "float64"});
}

}  // namespace
}  // namespace ember
