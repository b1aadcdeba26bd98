// Elementwise ops: values, broadcasting, first- and second-order gradient checks.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/gradcheck.h"

namespace ember {
namespace {

using testing::random_input;
using testing::random_input_away_from;

TEST(Elementwise, AddBroadcastsValues) {
  Tensor a = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}, {.dtype = DType::Float64});
  Tensor b = from_vector<double>({10, 20, 30}, {3}, {.dtype = DType::Float64});
  EXPECT_EQ(add(a, b).to_vector<double>(), (std::vector<double>{11, 22, 33, 14, 25, 36}));
  Tensor c = from_vector<double>({100, 200}, {2, 1}, {.dtype = DType::Float64});
  EXPECT_EQ(add(a, c).to_vector<double>(), (std::vector<double>{101, 102, 103, 204, 205, 206}));
}

TEST(Elementwise, BinaryGradcheckWithBroadcasting) {
  const Tensor a = random_input({2, 3, 4}, 1);
  const Tensor b = random_input({3, 1}, 2);
  const Tensor pos = random_input({1, 4}, 3, 0.5, 2.0);
  EXPECT_GRADCHECK([](const TensorList& x) { return add(x[0], x[1]); }, {a, b});
  EXPECT_GRADCHECK([](const TensorList& x) { return sub(x[0], x[1]); }, {a, b});
  EXPECT_GRADCHECK([](const TensorList& x) { return mul(x[0], x[1]); }, {a, b});
  EXPECT_GRADCHECK([](const TensorList& x) { return div(x[0], x[1]); }, {a, pos});
}

TEST(Elementwise, UnaryGradcheck) {
  const Tensor x = random_input({3, 5}, 4);
  const Tensor pos = random_input({3, 5}, 5, 0.3, 2.0);
  const Tensor away = random_input_away_from({3, 5}, 6, {0.0, -0.5, 0.5});
  EXPECT_GRADCHECK([](const TensorList& t) { return neg(t[0]); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return add_scalar(t[0], 2.5); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return mul_scalar(t[0], -1.5); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return reciprocal(t[0]); }, {pos});
  EXPECT_GRADCHECK([](const TensorList& t) { return pow(t[0], 3.0); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return pow(t[0], -1.7); }, {pos});
  EXPECT_GRADCHECK([](const TensorList& t) { return sqrt(t[0]); }, {pos});
  EXPECT_GRADCHECK([](const TensorList& t) { return rsqrt(t[0]); }, {pos});
  EXPECT_GRADCHECK([](const TensorList& t) { return exp(t[0]); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return log(t[0]); }, {pos});
  EXPECT_GRADCHECK([](const TensorList& t) { return abs(t[0]); }, {away});
  EXPECT_GRADCHECK([](const TensorList& t) { return clamp(t[0], -0.5, 0.5); }, {away});
  EXPECT_GRADCHECK([](const TensorList& t) { return 2.0 / t[0] - 1.0; }, {pos});
}

TEST(Elementwise, WhereGradcheck) {
  const Tensor a = random_input({2, 3}, 7);
  const Tensor b = random_input({3}, 8);
  const Tensor cond = from_vector<uint8_t>({1, 0, 1, 0, 0, 1}, {2, 3}, {.dtype = DType::UInt8});
  EXPECT_GRADCHECK([cond](const TensorList& t) { return where(cond, t[0], t[1]); }, {a, b});
  EXPECT_GRADGRADCHECK([cond](const TensorList& t) { return mul(where(cond, t[0], t[1]), t[0]); }, {a, b});
}

TEST(Elementwise, SecondOrderForCriticOps) {
  const Tensor a = random_input({2, 3}, 9);
  const Tensor b = random_input({1, 3}, 10);
  const Tensor pos = random_input({2, 3}, 11, 0.3, 2.0);
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return add(t[0], t[1]); }, {a, b});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return mul(t[0], t[1]); }, {a, b});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return div(t[0], t[1]); }, {a, pos});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return sqrt(t[0]); }, {pos});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return pow(t[0], 2.5); }, {pos});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return pow(t[0], 2.0); }, {a});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return rsqrt(t[0]); }, {pos});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return exp(t[0]); }, {a});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return log(t[0]); }, {pos});
}

TEST(Elementwise, MismatchErrorsNameBothOperands) {
  Tensor a = zeros({2, 3});
  Tensor b = zeros({4, 3});
  try {
    add(a, b);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[4, 3]"), std::string::npos) << e.what();
  }
  Tensor c = zeros({2, 3}, {.dtype = DType::Float64});
  EXPECT_THROW(add(a, c), Error);
}

}  // namespace
}  // namespace ember
