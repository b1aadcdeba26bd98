// clip_grad_norm (optim/clip.h): the returned total norm, the scaled gradients, the no-op
// under the limit, skipped parameters and the checks, against hand computations.
// Gradients [3, 4] and [12] have the total norm sqrt(9 + 16 + 144) = 13.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "ops/ops.h"
#include "optim/clip.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using optim::clip_grad_norm;

struct Params {
  Tensor a, b;
};

Params make(DType dtype = DType::Float64) {
  Params p{from_vector<double>({1.0, 1.0}, {2}, {.dtype = dtype, .requires_grad = true}),
           from_vector<double>({1.0}, {1}, {.dtype = dtype, .requires_grad = true})};
  p.a.mutable_grad() = from_vector<double>({3.0, 4.0}, {2}, {.dtype = dtype});
  p.b.mutable_grad() = from_vector<double>({12.0}, {1}, {.dtype = dtype});
  return p;
}

TEST(ClipGradNorm, ScalesEveryGradientByTheGlobalFactor) {
  for (DType dtype : {DType::Float64, DType::Float32}) {
    Params p = make(dtype);
    const Tensor grad_a = p.a.grad();
    const double norm = clip_grad_norm({p.a, p.b}, 6.5);
    EXPECT_NEAR(norm, 13.0, 1e-6);
    // coef = 6.5 / (13 + 1e-6): every gradient halved (up to the 1e-6 PyTorch adds).
    const double coef = 6.5 / (13.0 + 1e-6);
    const double tol = dtype == DType::Float64 ? 1e-12 : 1e-5;
    const auto a = p.a.grad().to_vector<double>();
    EXPECT_NEAR(a[0], 3.0 * coef, tol);
    EXPECT_NEAR(a[1], 4.0 * coef, tol);
    EXPECT_NEAR(p.b.grad().to_vector<double>()[0], 12.0 * coef, tol);
    EXPECT_TRUE(p.a.grad().same(grad_a)) << "the .grad tensor is scaled in place";
    // The clipped norm is max_norm (less the epsilon's share).
    EXPECT_NEAR(clip_grad_norm({p.a, p.b}, 100.0), 6.5, 1e-5);
  }
}

TEST(ClipGradNorm, LeavesGradientsUnderTheLimitUnchanged) {
  Params p = make();
  EXPECT_DOUBLE_EQ(clip_grad_norm({p.a, p.b}, 13.5), 13.0);
  EXPECT_EQ(p.a.grad().to_vector<double>(), std::vector<double>({3.0, 4.0}));
  EXPECT_EQ(p.b.grad().to_vector<double>(), std::vector<double>({12.0}));
  // Exactly at the limit: coef = 13 / (13 + 1e-6) < 1 scales by a hair, as in PyTorch.
  clip_grad_norm({p.a, p.b}, 13.0);
  EXPECT_LT(p.b.grad().to_vector<double>()[0], 12.0);
  EXPECT_NEAR(p.b.grad().to_vector<double>()[0], 12.0, 1e-5);
}

TEST(ClipGradNorm, SkipsParametersWithoutGradient) {
  Params p = make();
  Tensor c = from_vector<double>({1.0}, {1}, {.dtype = DType::Float64, .requires_grad = true});
  EXPECT_NEAR(clip_grad_norm({p.a, c}, 1.0), 5.0, 1e-12);  // only [3, 4]
  EXPECT_FALSE(c.grad().defined());
  EXPECT_NEAR(p.a.grad().to_vector<double>()[0], 3.0 / (5.0 + 1e-6), 1e-12);
  EXPECT_EQ(clip_grad_norm({c}, 1.0), 0.0);
  EXPECT_EQ(clip_grad_norm({}, 1.0), 0.0);
}

TEST(ClipGradNorm, NonFiniteNorm) {
  Params p = make();
  p.b.mutable_grad() =
      from_vector<double>({std::numeric_limits<double>::infinity()}, {1}, {.dtype = DType::Float64});
  EXPECT_ERROR_MENTIONS(clip_grad_norm({p.a, p.b}, 1.0, /*error_if_nonfinite=*/true), "inf");
  // Without the check, as PyTorch: coef = 1 / inf = 0 zeroes the finite gradients.
  EXPECT_TRUE(std::isinf(clip_grad_norm({p.a, p.b}, 1.0)));
  EXPECT_EQ(p.a.grad().to_vector<double>(), std::vector<double>({0.0, 0.0}));
}

TEST(ClipGradNorm, RejectsBadArguments) {
  Params p = make();
  EXPECT_ERROR_MENTIONS(clip_grad_norm({p.a}, 0.0), "max_norm must be > 0");
  EXPECT_ERROR_MENTIONS(clip_grad_norm({p.a, Tensor()}, 1.0), "parameter 1 is undefined");
}

}  // namespace
}  // namespace ember
