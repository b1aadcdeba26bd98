// The fused squeeze-and-excite op (ops/squeeze_excite.h) against the same block built of
// separate ops (mean, conv2d with bias, silu, conv2d, sigmoid, product): values and every
// gradient, in float64 and float32; gradcheck against central differences; one dispatch forward
// and two backward; the refusal of double backward; argument errors.
#include <gtest/gtest.h>

#include <cmath>

#include "ops/ops.h"
#include "ops/squeeze_excite.h"
#include "tensor/dispatch_count.h"
#include "tests/expect_error.h"
#include "tests/gradcheck.h"

namespace ember {
namespace {

using testing::random_input;

struct SeInputs {
  Tensor h, w1, b1, w2, b2;
  TensorList list() const { return {h, w1, b1, w2, b2}; }
};

// N = 3 samples of 4 x 5 positions, C = 6 channels, R = 2.
SeInputs make_inputs(DType dtype, uint64_t seed = 7, int64_t n = 3, int64_t c = 6, int64_t r = 2) {
  auto in = [&](const Shape& s, uint64_t k) {
    Tensor t = random_input(s, seed + k).detach();
    if (dtype != DType::Float64) t = to_dtype(t, dtype);
    t.set_requires_grad(true);
    return t;
  };
  return {in({n, 4, 5, c}, 0), in({r, 1, 1, c}, 1), in({r}, 2), in({c, 1, 1, r}, 3), in({c}, 4)};
}

// The block as EfficientNet wrote it before the fused op.
Tensor composite(const TensorList& x) {
  const Tensor& h = x[0];
  Tensor s = mean(h, {1, 2}, /*keepdim=*/true);
  s = silu(conv2d(s, x[1], x[2], {}));
  s = sigmoid(conv2d(s, x[3], x[4], {}));
  return h * s;
}

Tensor fused(const TensorList& x) { return squeeze_excite(x[0], x[1], x[2], x[3], x[4]); }

double largest_difference(const Tensor& a, const Tensor& b) {
  return amax(abs(to_dtype(a, DType::Float64) - to_dtype(b, DType::Float64))).item<double>();
}

// Forward values and all five gradients (of sum(y * R)) of the fused op and the composite.
void expect_matches_composite(DType dtype, double tol) {
  const SeInputs in = make_inputs(dtype);
  const Tensor weights = to_dtype(random_input(in.h.shape(), 99).detach(), dtype);
  TensorList grads[2];
  Tensor outs[2];
  for (int k = 0; k < 2; ++k) {
    const TensorList x = in.list();
    for (const Tensor& t : x) t.impl()->autograd.grad = Tensor();
    outs[k] = k == 0 ? fused(x) : composite(x);
    sum(outs[k] * weights).backward();
    for (const Tensor& t : x) grads[k].push_back(t.grad());
  }
  EXPECT_LT(largest_difference(outs[0], outs[1]), tol) << "forward";
  const char* names[] = {"h", "w_reduce", "b_reduce", "w_expand", "b_expand"};
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(grads[0][i].defined()) << names[i];
    EXPECT_EQ(grads[0][i].shape(), in.list()[i].shape()) << names[i];
    EXPECT_LT(largest_difference(grads[0][i], grads[1][i]), tol) << "gradient of " << names[i];
  }
}

TEST(SqueezeExcite, MatchesTheCompositeBlockFloat64) { expect_matches_composite(DType::Float64, 1e-13); }

TEST(SqueezeExcite, MatchesTheCompositeBlockFloat32) { expect_matches_composite(DType::Float32, 2e-6); }

TEST(SqueezeExcite, GradcheckAllInputs) {
  const SeInputs in = make_inputs(DType::Float64, 11, 2, 5, 3);
  // Only the fused backward exists (no double backward), so only it is compared.
  EXPECT_GRADCHECK(fused, in.list(), {.check_composite = false});
}

TEST(SqueezeExcite, OneDispatchForwardTwoBackward) {
  const SeInputs in = make_inputs(DType::Float32);
  const Tensor y = fused(in.list());
  {
    DispatchTally tally;
    const Tensor again = fused(in.list());
    EXPECT_EQ(tally.total(), 1u);
  }
  const Tensor g = ones_like(y);
  DispatchTally tally;
  y.backward(g);
  const auto rows = tally.by_name();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].first, "squeeze_excite (input gradient)");
  EXPECT_EQ(rows[1].first, "squeeze_excite (weight gradient)");
}

TEST(SqueezeExcite, SecondDerivativeIsRefused) {
  const SeInputs in = make_inputs(DType::Float64);
  const Tensor y = sum(fused(in.list()));
  const TensorList g = grad({y}, {in.h}, {}, /*retain_graph=*/true, /*create_graph=*/true);
  EXPECT_THROW(sum(g[0]).backward(), Error);
}

TEST(SqueezeExcite, BadArgumentsAreNamed) {
  const SeInputs in = make_inputs(DType::Float32);
  EXPECT_ERROR_MENTIONS(squeeze_excite(reshape(in.h, {3, 20, 6}), in.w1, in.b1, in.w2, in.b2),
                        "expected h of shape [N, H, W, C]");
  EXPECT_ERROR_MENTIONS(squeeze_excite(in.h, reshape(in.w1, {2, 6}), in.b1, in.w2, in.b2),
                        "w_reduce must have shape [R, 1, 1, 6]");
  EXPECT_ERROR_MENTIONS(squeeze_excite(in.h, in.w1, zeros({3}), in.w2, in.b2),
                        "b_reduce must have shape [2]");
  EXPECT_ERROR_MENTIONS(squeeze_excite(in.h, in.w1, in.b1, zeros({6, 1, 1, 3}), in.b2),
                        "w_expand must have shape [6, 1, 1, 2]");
  EXPECT_ERROR_MENTIONS(squeeze_excite(in.h, in.w1, in.b1, in.w2, to_dtype(in.b2, DType::Float64)),
                        "squeeze_excite");
}

}  // namespace
}  // namespace ember
