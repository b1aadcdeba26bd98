// Shape ops on the GPU (ops/shape.h): views, concat, slice, casts and device moves run the
// strided copy / cast kernels of tensor/cuda/copy.cu, and their backward passes (slice_backward,
// concat's slices, to_device's move back) must give the CPU's gradients. Copies are exact, so the
// tolerance is zero except where a float64 -> float32 cast rounds (then float32's epsilon).
#include <gtest/gtest.h>

#include "tests/device_compare.h"

namespace ember {
namespace {

using testing::DeviceCompareOptions;
using testing::random_tensor;
using testing::Tolerance;

DeviceCompareOptions exact(bool double_backward = false) {
  DeviceCompareOptions o;
  o.forward = o.backward = o.double_backward_tol = Tolerance{0.0, 0.0};
  o.double_backward = double_backward;
  return o;
}

TEST(CudaShape, ConcatOfStridedPiecesAndItsBackward) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : {DType::Float32, DType::Float64}) {
    const Tensor a = random_tensor({3, 5, 7}, 1, dt, -1, 1, true);
    const Tensor b = random_tensor({3, 2, 7}, 2, dt, -1, 1, true);
    const Tensor c = random_tensor({7, 4, 3}, 3, dt, -1, 1, true);  // permuted to [3, 4, 7]
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& in) {
          return concat({in[0], in[1], permute(in[2], {2, 1, 0})}, 1);
        },
        {a, b, c}, exact(true));
  }
}

TEST(CudaShape, SliceWithStepPermuteExpandAndContiguous) {
  EMBER_REQUIRE_CUDA();
  const Tensor x = random_tensor({6, 9, 4}, 4, DType::Float32, -1, 1, true);
  EXPECT_CUDA_MATCHES_CPU(
      [](const TensorList& in) { return contiguous(slice(in[0], 1, 1, 8, 3)); }, {x}, exact(true));
  EXPECT_CUDA_MATCHES_CPU(
      [](const TensorList& in) { return contiguous(transpose(in[0], 0, 2)); }, {x}, exact(true));
  const Tensor row = random_tensor({1, 4}, 5, DType::Float64, -1, 1, true);
  // expand's backward sums over the broadcast axis, in double on both devices.
  DeviceCompareOptions sum_tol = exact();
  sum_tol.backward = Tolerance{1e-12, 1e-12};
  EXPECT_CUDA_MATCHES_CPU(
      [](const TensorList& in) { return contiguous(expand(in[0], {70000, 4})); }, {row}, sum_tol);
}

TEST(CudaShape, ReshapeOfANonContiguousViewCopies) {
  EMBER_REQUIRE_CUDA();
  const Tensor x = random_tensor({5, 8}, 6, DType::Float32, -1, 1, true);
  EXPECT_CUDA_MATCHES_CPU(
      [](const TensorList& in) { return reshape(transpose(in[0], 0, 1), {4, 10}); }, {x}, exact());
}

TEST(CudaShape, CastsOnTheDevice) {
  EMBER_REQUIRE_CUDA();
  const Tensor x = random_tensor({1001}, 7, DType::Float64, -3, 3, true);
  DeviceCompareOptions o = exact();
  o.forward = o.backward = Tolerance{6e-8, 0.0};  // one float32 rounding (2^-24 relative)
  EXPECT_CUDA_MATCHES_CPU([](const TensorList& in) { return to_dtype(in[0], DType::Float32); },
                          {x}, o);
  // The same cast through a strided view, and bfloat16 round-to-nearest-even on both devices.
  const Tensor m = random_tensor({33, 31}, 8, DType::Float32, -3, 3);
  const Tensor on_gpu = to_dtype(transpose(m.to(Device::cuda(0)), 0, 1), DType::BFloat16);
  const Tensor on_cpu = to_dtype(transpose(m, 0, 1), DType::BFloat16);
  EXPECT_EQ(testing::compare_tensors(on_gpu, on_cpu, {0.0, 0.0}, "bfloat16 cast"), "");
}

TEST(CudaShape, DeviceMovesCarryGradientsBack) {
  EMBER_REQUIRE_CUDA();
  // A CPU leaf moved to the GPU, used there, and the gradient arriving back on the CPU.
  const Tensor x = random_tensor({4, 3}, 9, DType::Float64, -1, 1, true);
  const Tensor y = mul(to_device(x, Device::cuda(0)), to_device(x, Device::cuda(0)));
  EXPECT_TRUE(y.is_cuda());
  backward({sum(y)});
  ASSERT_TRUE(x.grad().defined());
  EXPECT_TRUE(x.grad().device().is_cpu());
  EXPECT_EQ(testing::compare_tensors(x.grad(), mul_scalar(x.detach(), 2.0), {0.0, 0.0}, "grad"),
            "");
}

}  // namespace
}  // namespace ember
