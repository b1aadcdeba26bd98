// Activations and softmax: values against the scalar formulas, numerical stability, first and
// second order gradient checks, and agreement of the fused and composite backward paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "tests/gradcheck.h"

namespace ember {
namespace {

using testing::random_input;
using testing::random_input_away_from;

const TensorOptions kF64{.dtype = DType::Float64};

double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }

struct Activation {
  std::string name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> reference;
};

std::vector<Activation> activations() {
  return {
      {"relu", [](const Tensor& x) { return relu(x); }, [](double x) { return x > 0 ? x : 0.0; }},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.1); },
       [](double x) { return x > 0 ? x : 0.1 * x; }},
      {"leaky_relu_default", [](const Tensor& x) { return leaky_relu(x); },
       [](double x) { return x > 0 ? x : 0.2 * x; }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, sigmoid_ref},
      {"silu", [](const Tensor& x) { return silu(x); }, [](double x) { return x * sigmoid_ref(x); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }, [](double x) { return std::tanh(x); }},
  };
}

TEST(Activation, ValuesMatchScalarFormulas) {
  const std::vector<double> xs{-3.0, -0.5, 0.0, 0.25, 2.0, 7.5};
  for (const Activation& a : activations()) {
    for (DType dtype : {DType::Float64, DType::Float32}) {
      const auto got = a.op(from_vector(xs, {2, 3}, {.dtype = dtype})).to_vector<double>();
      for (size_t i = 0; i < xs.size(); ++i)
        EXPECT_NEAR(got[i], a.reference(xs[i]), dtype == DType::Float64 ? 1e-15 : 1e-6)
            << a.name << "(" << xs[i] << ") in " << dtype_name(dtype);
    }
  }
}

TEST(Activation, SoftmaxValues) {
  Tensor x = from_vector<double>({1, 2, 3, -1, 0, 4}, {2, 3}, kF64);
  const auto y = softmax(x).to_vector<double>();
  const double z0 = std::exp(1) + std::exp(2) + std::exp(3), z1 = std::exp(-1) + 1 + std::exp(4);
  const std::vector<double> expected{std::exp(1) / z0, std::exp(2) / z0, std::exp(3) / z0,
                                     std::exp(-1) / z1, 1 / z1, std::exp(4) / z1};
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], expected[i], 1e-15);
  const auto ly = log_softmax(x, 1).to_vector<double>();
  for (size_t i = 0; i < ly.size(); ++i) EXPECT_NEAR(ly[i], std::log(expected[i]), 1e-14);
  // Along axis 0: each column is a 2-way softmax.
  const auto y0 = softmax(x, 0).to_vector<double>();
  EXPECT_NEAR(y0[0], sigmoid_ref(1 - -1), 1e-15);
  EXPECT_NEAR(y0[3], sigmoid_ref(-1 - 1), 1e-15);
  EXPECT_NEAR(y0[2], sigmoid_ref(3 - 4), 1e-15);
}

TEST(Activation, SoftmaxIsStableForLargeLogits) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = from_vector<double>({1000, 1001, -1000, 0}, {2, 2}, {.dtype = dtype});
    const auto y = softmax(x, 1).to_vector<double>();
    EXPECT_NEAR(y[0], sigmoid_ref(-1), 1e-6);
    EXPECT_NEAR(y[1], sigmoid_ref(1), 1e-6);
    EXPECT_EQ(y[2], 0.0);
    EXPECT_EQ(y[3], 1.0);
    const auto ly = log_softmax(x, 1).to_vector<double>();
    EXPECT_NEAR(ly[0], -std::log1p(std::exp(1.0)), 1e-5);
    EXPECT_NEAR(ly[2], -1000.0, 1e-3);
    EXPECT_EQ(ly[3], 0.0);
  }
}

TEST(Activation, SoftmaxOfStridedInputMatchesContiguous) {
  Tensor base = random_input({3, 4, 2}, 1).detach();
  Tensor view = permute(base, {2, 0, 1});  // [2, 3, 4], not contiguous
  ASSERT_FALSE(view.is_contiguous());
  for (int64_t axis : {0, 1, 2}) {
    EXPECT_TRUE(allclose(softmax(view, axis), softmax(view.contiguous(), axis), 0, 1e-15));
    EXPECT_TRUE(allclose(log_softmax(view, axis), log_softmax(view.contiguous(), axis), 0, 1e-15));
  }
}

TEST(Activation, LargeSoftmaxMatchesNaiveLoop) {
  // Big enough for the OpenMP path (300 rows of 130).
  const int64_t rows = 300, cols = 130;
  const Tensor x = random_input({rows, cols}, 9, -5.0, 5.0).detach();
  const auto xv = x.to_vector<double>();
  const auto y = softmax(x, 1).to_vector<double>();
  const auto ly = log_softmax(x, 1).to_vector<double>();
  double worst = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double z = 0;
    for (int64_t c = 0; c < cols; ++c) z += std::exp(xv[r * cols + c]);
    for (int64_t c = 0; c < cols; ++c) {
      worst = std::max(worst, std::abs(y[r * cols + c] - std::exp(xv[r * cols + c]) / z));
      worst = std::max(worst, std::abs(ly[r * cols + c] - (xv[r * cols + c] - std::log(z))));
    }
  }
  EXPECT_LT(worst, 1e-13);
}

TEST(Activation, Gradcheck) {
  const Tensor x = random_input({3, 4}, 2, -3.0, 3.0);
  const Tensor away = random_input_away_from({3, 4}, 3, {0.0}, 1e-2, -3.0, 3.0);
  EXPECT_GRADCHECK([](const TensorList& t) { return relu(t[0]); }, {away});
  EXPECT_GRADCHECK([](const TensorList& t) { return leaky_relu(t[0], 0.1); }, {away});
  EXPECT_GRADCHECK([](const TensorList& t) { return sigmoid(t[0]); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return silu(t[0]); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return tanh(t[0]); }, {x});
  for (int64_t axis : {0, 1, -1}) {
    EXPECT_GRADCHECK([axis](const TensorList& t) { return softmax(t[0], axis); }, {x});
    EXPECT_GRADCHECK([axis](const TensorList& t) { return log_softmax(t[0], axis); }, {x});
  }
  // Strided input.
  const Tensor cube = random_input({2, 3, 2}, 4);
  EXPECT_GRADCHECK([](const TensorList& t) { return softmax(permute(t[0], {2, 0, 1}), 1); }, {cube});
  EXPECT_GRADCHECK([](const TensorList& t) { return log_softmax(permute(t[0], {1, 2, 0}), 2); }, {cube});
}

TEST(Activation, Gradgradcheck) {
  const Tensor x = random_input({2, 3}, 5, -3.0, 3.0);
  const Tensor away = random_input_away_from({2, 3}, 6, {0.0}, 1e-2, -3.0, 3.0);
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return relu(t[0]); }, {away});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return leaky_relu(t[0], 0.1); }, {away});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return sigmoid(t[0]); }, {x});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return silu(t[0]); }, {x});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return tanh(t[0]); }, {x});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return softmax(t[0], 1); }, {x});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return softmax(t[0], 0); }, {x});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return log_softmax(t[0], 1); }, {x});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return log_softmax(t[0], 0); }, {x});
  // relu/leaky_relu have no curvature of their own; composed with a square they must pass the
  // x-dependence of the outer op through their double backward.
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return mul(relu(t[0]), relu(t[0])); }, {away});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return leaky_relu(mul(t[0], t[0]), 0.1); }, {x});
}

TEST(Activation, FusedAndCompositeBackwardAgree) {
  // The fused kernel runs when create_graph is false; the composite formula when it is true.
  for (DType dtype : {DType::Float64, DType::Float32}) {
    const Tensor values = random_input_away_from({4, 5}, 7, {0.0}, 1e-2, -4.0, 4.0);
    const Tensor weights = random_input({4, 5}, 8);
    for (const Activation& a : activations()) {
      TensorList grads;
      for (bool create_graph : {false, true}) {
        // Fresh leaves; the weights require grad so the composite gradient carries history.
        Tensor x = convert(values, dtype, Device::cpu()).set_requires_grad(true);
        Tensor w = convert(weights, dtype, Device::cpu()).set_requires_grad(true);
        Tensor loss = sum(mul(a.op(x), w));
        grads.push_back(grad({loss}, {x}, {}, false, create_graph)[0]);
      }
      EXPECT_FALSE(grads[0].requires_grad()) << a.name;
      EXPECT_TRUE(grads[1].requires_grad()) << a.name;  // proves the composite path ran
      EXPECT_TRUE(allclose(grads[0], grads[1], dtype == DType::Float64 ? 1e-14 : 1e-6, 1e-7))
          << a.name << " in " << dtype_name(dtype) << ": max diff " << max_abs_diff(grads[0], grads[1]);
    }
  }
}

TEST(Activation, ErrorsNameTheOp) {
  Tensor ints = zeros({2, 2}, {.dtype = DType::Int64});
  for (auto [name, fn] : std::vector<std::pair<std::string, std::function<Tensor()>>>{
           {"relu", [&] { return relu(ints); }},
           {"sigmoid", [&] { return sigmoid(ints); }},
           {"softmax", [&] { return softmax(ints); }}}) {
    try {
      fn();
      ADD_FAILURE() << name << ": expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("int64[2, 2]"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(log_softmax(zeros({2, 2}), 2), Error);
}

}  // namespace
}  // namespace ember
