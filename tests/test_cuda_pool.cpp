// CUDA upsample_nearest / downsample_sum (kernels/cuda/pool.cu) against the CPU reference through
// ops/pool.h: forward and backward (each is the other's adjoint; the backward also with
// create_graph), float32 and float64, odd sizes, channel counts 24 / 88, and strided
// (NCHW-permuted, channel-sliced) inputs. Skipped without a GPU.
//
// Tolerance: exact for forward and backward. Upsampling copies; downsampling adds its block in
// double in the CPU's order and rounds once, so both are bit-identical to the CPU by design.
// Both ops are linear, so their gradient does not depend on x: the helper's second-order stage
// finds a constant and compares nothing (its tolerance below is never used).
#include <gtest/gtest.h>

#include "ops/pool.h"
#include "tests/device_compare.h"

namespace ember {
namespace {

using testing::DeviceCompareOptions;
using testing::random_tensor;

DeviceCompareOptions exact_options(DType dtype) {
  DeviceCompareOptions o;
  o.forward = {0.0, 0.0};
  o.backward = {0.0, 0.0};
  o.double_backward = true;
  o.double_backward_tol = dtype == DType::Float32 ? testing::Tolerance{1e-5, 1e-5}
                                                  : testing::Tolerance{1e-12, 1e-12};
  return o;
}

TEST(CudaPool, UpsampleNearestMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor x = random_tensor({3, 5, 7, 24}, 1, dtype, -1.0, 1.0, true);
    auto f = [](const TensorList& in) { return upsample_nearest(in[0], 2, 3); };
    EXPECT_CUDA_MATCHES_CPU(f, {x}, exact_options(dtype)) << dtype_name(dtype);
    // Strided: an NCHW tensor seen as NHWC, and every other channel of a wider tensor.
    const Tensor nchw = random_tensor({2, 88, 9, 6}, 2, dtype, -1.0, 1.0, true);
    auto g = [](const TensorList& in) { return upsample_nearest(in[0].permute({0, 2, 3, 1}), 2, 2); };
    EXPECT_CUDA_MATCHES_CPU(g, {nchw}, exact_options(dtype)) << dtype_name(dtype);
    const Tensor wide = random_tensor({4, 8, 8, 48}, 3, dtype, -1.0, 1.0, true);
    auto h = [](const TensorList& in) { return upsample_nearest(in[0].slice(3, 1, 48, 2), 1, 4); };
    EXPECT_CUDA_MATCHES_CPU(h, {wide}, exact_options(dtype)) << dtype_name(dtype);
  }
}

TEST(CudaPool, DownsampleSumMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor x = random_tensor({2, 6, 9, 88}, 4, dtype, -1.0, 1.0, true);
    auto f = [](const TensorList& in) { return downsample_sum(in[0], 2, 3); };
    EXPECT_CUDA_MATCHES_CPU(f, {x}, exact_options(dtype)) << dtype_name(dtype);
    // Large enough for many blocks of the grid-stride loop, and a strided (permuted) input.
    const Tensor nchw = random_tensor({16, 24, 32, 32}, 5, dtype, -1.0, 1.0, true);
    auto g = [](const TensorList& in) { return downsample_sum(in[0].permute({0, 2, 3, 1}), 4, 4); };
    EXPECT_CUDA_MATCHES_CPU(g, {nchw}, exact_options(dtype)) << dtype_name(dtype);
  }
}

}  // namespace
}  // namespace ember
