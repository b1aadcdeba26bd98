// softplus (ops/activation.h), the op docs/adding-an-op.md walks through: values against
// PyTorch, stability at large |x|, first and second order gradient checks (the fused backward
// kernel and the composite one), and CPU-vs-CUDA equivalence (skipped without a GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "tests/device_compare.h"
#include "tests/elementwise_tolerance.h"
#include "tests/gradcheck.h"

namespace ember {
namespace {

using testing::random_input;

const TensorOptions kF64{.dtype = DType::Float64};

// torch.nn.functional.softplus(x) (beta 1, threshold 20), its first and second derivatives, in
// float64 (torch 1.13). Above torch's threshold (x = 25) torch returns x itself and a gradient of
// exactly 1; ember computes log(1 + exp(x)) there too, exp(-25) ~ 1.4e-11 away.
const std::vector<double> kX{-30, -5, -1, -0.25, 0, 0.5, 2, 15, 25};
const std::vector<double> kTorchY{
    9.357622968839737e-14, 0.006715348489118068, 0.31326168751822286, 0.5759394198788436,
    0.6931471805599453,    0.9740769841801067,   2.1269280110429727,  15.000000305902274, 25.0};
const std::vector<double> kTorchDy{
    9.3576229688393e-14, 0.006692850924284856, 0.2689414213699951, 0.4378234991142019, 0.5,
    0.6224593312018546,  0.8807970779778824,   0.9999996940977731, 1.0};
const std::vector<double> kTorchD2y{
    9.357622968838423e-14, 0.006648056670790155, 0.19661193324148185, 0.24613408273759835, 0.25,
    0.2350037122015945,    0.10499358540350662,  3.0590213341738715e-07, 0.0};

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rtol,
                  double atol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], atol + rtol * std::abs(want[i])) << what << " at x = " << kX[i];
}

TEST(Softplus, MatchesTorchValuesAndDerivatives) {
  const Tensor x = from_vector(kX, {3, 3}, kF64).set_requires_grad(true);
  const Tensor y = softplus(x);
  expect_close(y.to_vector<double>(), kTorchY, 1e-15, 2e-11, "softplus");
  // First derivative through the fused kernel (no create_graph) and the composite one.
  const Tensor fused = grad({sum(y)}, {x}, {}, true, false)[0];
  expect_close(fused.to_vector<double>(), kTorchDy, 1e-15, 2e-11, "d softplus (fused)");
  const Tensor dy = grad({sum(y)}, {x}, {}, true, true)[0];
  expect_close(dy.to_vector<double>(), kTorchDy, 1e-15, 2e-11, "d softplus (composite)");
  const Tensor d2y = grad({sum(dy)}, {x})[0];
  expect_close(d2y.to_vector<double>(), kTorchD2y, 1e-14, 2e-11, "d2 softplus");
}

TEST(Softplus, StableAtLargeMagnitudes) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const double inf = std::numeric_limits<double>::infinity();
    const Tensor x = from_vector<double>({-1000, -100, 0, 100, 1000, -inf, inf}, {7},
                                         {.dtype = dtype});
    const auto y = softplus(x).to_vector<double>();
    EXPECT_EQ(y[0], 0.0);
    // exp(-100): a float32 denormal, a float64 normal number; log1p keeps it.
    EXPECT_NEAR(y[1], std::exp(-100.0), dtype == DType::Float32 ? 1e-44 : 1e-50)
        << dtype_name(dtype);
    EXPECT_NEAR(y[2], std::log(2.0), 1e-7) << dtype_name(dtype);
    EXPECT_EQ(y[3], 100.0) << dtype_name(dtype);
    EXPECT_EQ(y[4], 1000.0) << dtype_name(dtype);  // log1p(exp(1000)) would be inf
    EXPECT_EQ(y[5], 0.0) << dtype_name(dtype);
    EXPECT_EQ(y[6], inf) << dtype_name(dtype);
    EXPECT_TRUE(std::isnan(softplus(full({1}, std::nan(""), {.dtype = dtype})).item<double>()));
  }
}

TEST(Softplus, Gradcheck) {
  EXPECT_GRADCHECK([](const TensorList& t) { return softplus(t[0]); },
                   {random_input({3, 4}, 11, -6.0, 6.0)});
  // A strided input (the strided loops of the forward and the fused backward).
  EXPECT_GRADCHECK([](const TensorList& t) { return softplus(transpose(t[0], 0, 1)); },
                   {random_input({3, 4}, 12, -3.0, 3.0)});
}

TEST(Softplus, Gradgradcheck) {
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return softplus(t[0]); },
                       {random_input({2, 3}, 13, -4.0, 4.0)});
}

TEST(Softplus, Float32IsFloat64Rounded) {
  const Tensor x64 = random_input({1000}, 14, -30.0, 30.0).detach();
  const Tensor x32 = to_dtype(x64, DType::Float32);
  const auto want = softplus(to_dtype(x32, DType::Float64)).to_vector<double>();
  const auto got = softplus(x32).to_vector<double>();
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 4 * std::numeric_limits<float>::epsilon() * want[i] + 1e-30) << i;
}

TEST(Softplus, CudaMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : {DType::Float32, DType::Float64}) {
    SCOPED_TRACE(dtype_name(dt));
    const testing::DeviceCompareOptions o = testing::elementwise_options(dt);
    // Odd length: the vector body and the scalar tail; then a transposed (strided) input.
    const TensorList in = {testing::random_tensor({17, 257}, 41, dt, -25, 25, true)};
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return softplus(x[0]); }, in, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return softplus(transpose(x[0], 0, 1)); },
                            in, o);
  }
}

}  // namespace
}  // namespace ember
