// CUDA matrix products (kernels/cuda/linalg.cpp, cuBLAS) against the CPU reference (OpenBLAS):
// matmul, batched matmul and linear, forward, backward and double backward (a GAN critic's
// gradient penalty differentiates through linear layers), float32 and float64, odd sizes,
// transposed views (which reach cuBLAS as trans_a / trans_b), an empty inner dimension, and
// TF32: off by default gives fp32-accurate products where TF32 visibly would not.
// Also the cuBLAS error macro, which runs without a GPU. Run: ember_tests --gtest_filter='Cuda*Linalg*'.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>

#include "kernels/backend_settings.h"
#include "tests/device_compare.h"
#ifdef EMBER_WITH_CUDA
#include <cuda_runtime.h>

#include "kernels/cuda/cublas_context.h"
#endif

namespace ember {
namespace {

using testing::DeviceCompareOptions;
using testing::random_tensor;

// float32 products of length-K sums of U(-1, 1) products: both sides round each partial sum to
// fp32 but in different orders (OpenBLAS vs cuBLAS tiling, possibly split-K), so they differ by
// a few ulp of the running sum; |result| ~ sqrt(K)/3 <= 10 here, so 1e-4 absolute + 1e-5
// relative is ~100x the expected gap. Gradients are the same kind of sums (over M or N) and
// double backward chains two of them. float64: the same argument at 2^-53.
DeviceCompareOptions gemm_options(DType dtype) {
  DeviceCompareOptions o;
  if (dtype == DType::Float32) {
    o.forward = {1e-5, 1e-4};
    o.backward = {1e-5, 2e-4};
    o.double_backward_tol = {1e-5, 5e-4};
  } else {
    o.forward = {1e-12, 1e-12};
    o.backward = {1e-12, 1e-12};
    o.double_backward_tol = {1e-11, 1e-11};
  }
  o.double_backward = true;
  return o;
}

TEST(CudaLinalg, MatmulOddSizes) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : {DType::Float32, DType::Float64}) {
    // Sizes that are no multiple of any tile, and one large enough for many tiles.
    for (auto [M, K, N] : {std::tuple{1, 1, 1}, std::tuple{37, 53, 29}, std::tuple{300, 517, 203}}) {
      const Tensor a = random_tensor({M, K}, 1, dt, -1, 1, true);
      const Tensor b = random_tensor({K, N}, 2, dt, -1, 1, true);
      EXPECT_CUDA_MATCHES_CPU([](const TensorList& in) { return matmul(in[0], in[1]); }, {a, b},
                              gemm_options(dt))
          << dtype_name(dt) << " " << M << "x" << K << "x" << N;
    }
  }
}

TEST(CudaLinalg, MatmulTransposedOperands) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : {DType::Float32, DType::Float64}) {
    // a is stored [K, M] and b [N, K]: matmul sees transposed views, handed to cuBLAS as
    // trans_a / trans_b without a copy. All four combinations.
    const Tensor at = random_tensor({41, 23}, 3, dt, -1, 1, true);  // K = 41, M = 23
    const Tensor bt = random_tensor({19, 41}, 4, dt, -1, 1, true);  // N = 19
    const Tensor a = random_tensor({23, 41}, 5, dt, -1, 1, true);
    const Tensor b = random_tensor({41, 19}, 6, dt, -1, 1, true);
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& in) { return matmul(transpose(in[0], 0, 1), transpose(in[1], 0, 1)); },
        {at, bt}, gemm_options(dt))
        << dtype_name(dt) << " A^T B^T";
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& in) { return matmul(transpose(in[0], 0, 1), in[1]); }, {at, b},
        gemm_options(dt))
        << dtype_name(dt) << " A^T B";
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& in) { return matmul(in[0], transpose(in[1], 0, 1)); }, {a, bt},
        gemm_options(dt))
        << dtype_name(dt) << " A B^T";
  }
}

TEST(CudaLinalg, BatchedMatmul) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : {DType::Float32, DType::Float64}) {
    const Tensor a = random_tensor({5, 17, 33}, 7, dt, -1, 1, true);
    const Tensor b = random_tensor({5, 33, 9}, 8, dt, -1, 1, true);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& in) { return matmul(in[0], in[1]); }, {a, b},
                            gemm_options(dt))
        << dtype_name(dt);
    // Batched with transposed last two axes (the strided-batched call with trans flags).
    const Tensor bt = random_tensor({5, 9, 33}, 9, dt, -1, 1, true);
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& in) { return matmul(in[0], transpose(in[1], 1, 2)); }, {a, bt},
        gemm_options(dt))
        << dtype_name(dt) << " batched A B^T";
  }
}

TEST(CudaLinalg, LinearWithBias) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : {DType::Float32, DType::Float64}) {
    const Tensor x = random_tensor({4, 7, 45}, 10, dt, -1, 1, true);  // leading axes flattened
    const Tensor w = random_tensor({31, 45}, 11, dt, -1, 1, true);
    const Tensor bias = random_tensor({31}, 12, dt, -1, 1, true);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& in) { return linear(in[0], in[1], in[2]); },
                            {x, w, bias}, gemm_options(dt))
        << dtype_name(dt);
  }
}

// Contiguous views one element into their storage reach cuBLAS unaligned; it must cope.
TEST(CudaLinalg, MisalignedViews) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : {DType::Float32, DType::Float64}) {
    const Tensor a = random_tensor({1 + 33 * 20}, 15, dt, -1, 1, true);
    const Tensor b = random_tensor({1 + 20 * 17}, 16, dt, -1, 1, true);
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& in) {
          return matmul(slice(in[0], 0, 1, 1 + 33 * 20).reshape({33, 20}),
                        slice(in[1], 0, 1, 1 + 20 * 17).reshape({20, 17}));
        },
        {a, b}, gemm_options(dt))
        << dtype_name(dt);
  }
}

TEST(CudaLinalg, EmptyInnerDimensionGivesZeros) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : {DType::Float32, DType::Float64}) {
    const Tensor a = full({3, 0}, 1.0, {.dtype = dt, .device = Device::cuda(0)});
    const Tensor b = full({0, 4}, 1.0, {.dtype = dt, .device = Device::cuda(0)});
    const Tensor c = matmul(a, b);
    ASSERT_EQ(c.shape(), (Shape{3, 4}));
    EXPECT_EQ(c.to_vector<double>(), std::vector<double>(12, 0.0)) << dtype_name(dt);
    // And an empty output launches nothing.
    EXPECT_EQ(matmul(full({0, 5}, 1.0, {.dtype = dt, .device = Device::cuda(0)}),
                     full({5, 2}, 1.0, {.dtype = dt, .device = Device::cuda(0)}))
                  .shape(),
              (Shape{0, 2}));
  }
}

// max |c - reference| for c on any device, reference float64 on the CPU.
double max_error(const Tensor& c, const Tensor& reference) {
  const std::vector<double> a = c.to_vector<double>(), r = reference.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < r.size(); ++i) worst = std::max(worst, std::abs(a[i] - r[i]));
  return worst;
}

// A K = 4096 reduction of U(-1, 1) products (results ~20 in size). Exact fp32 rounds each
// partial sum to half an ulp (~1e-6 at this size): a random walk of 4096 such errors has a
// spread of ~2e-5, and the worst of 12288 outputs stays near 1e-4. TF32 rounds each input to an
// 11-bit significand (~2^-11 relative per product): ~1e-2 spread, worst ~3e-2. The bound 1e-3
// sits ~10x from either side.
TEST(CudaLinalg, Tf32OffIsFp32Accurate) {
  EMBER_REQUIRE_CUDA();
  kernels::BackendSettingsGuard guard;
  const Tensor a = random_tensor({128, 4096}, 13, DType::Float32);
  const Tensor b = random_tensor({4096, 96}, 14, DType::Float32);
  const Tensor reference = matmul(a.to(DType::Float64), b.to(DType::Float64));
  const Tensor ga = a.to(Device::cuda(0)), gb = b.to(Device::cuda(0));
  kernels::set_allow_tf32(false);
  const double exact_error = max_error(matmul(ga, gb), reference);
  EXPECT_LT(exact_error, 1e-3) << "float32 matmul on the GPU is not fp32-accurate (TF32 leak?)";
#ifdef EMBER_WITH_CUDA
  int device = 0, major = 0;
  ASSERT_EQ(cudaGetDevice(&device), cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), cudaSuccess);
  if (major >= 8) {  // TF32 exists from Ampere on: the opt-in must actually change the math
    kernels::set_allow_tf32(true);
    const double tf32_error = max_error(matmul(ga, gb), reference);
    EXPECT_GT(tf32_error, 10 * exact_error)
        << "allow_tf32 did not reach cuBLAS (TF32 error " << tf32_error << ", exact "
        << exact_error << ")";
  }
#endif
}

#ifdef EMBER_WITH_CUDA
// Needs no GPU: the macro turns a status into an ember::Error with the call text, file:line and
// cuBLAS's own name and description of the status.
TEST(CublasCheck, ThrowsWithCallTextAndLibraryMessage) {
  auto failing_call = [] { return CUBLAS_STATUS_INVALID_VALUE; };
  try {
    EMBER_CUBLAS_CHECK(failing_call());
    FAIL() << "EMBER_CUBLAS_CHECK did not throw";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("CUBLAS_STATUS_INVALID_VALUE"), std::string::npos) << what;
    EXPECT_NE(what.find("cuBLAS error in failing_call()"), std::string::npos) << what;
    EXPECT_NE(what.find("test_cuda_linalg.cpp"), std::string::npos) << what;
  }
  EXPECT_NO_THROW(EMBER_CUBLAS_CHECK(CUBLAS_STATUS_SUCCESS));
}
#endif

}  // namespace
}  // namespace ember
