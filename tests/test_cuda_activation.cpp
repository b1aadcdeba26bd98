// CPU-vs-CUDA equivalence of softmax and log_softmax (kernels/cuda/activation.cu) through
// ops/activation.h: the warp-per-row and block-per-row kernels on the contiguous last axis
// (short, exactly 1024, 1025 and long rows, many rows), the thread-per-slice kernel on other
// axes and on strided inputs, and extreme logits. Forward, backward and double backward,
// float32 and float64. Skipped without a GPU.
#include <gtest/gtest.h>

#include "ops/ops.h"
#include "tests/device_compare.h"

namespace ember {
namespace {

using testing::DeviceCompareOptions;
using testing::kFloatTypes;
using testing::random_tensor;

// Both devices compute exp in double and normalise in double; the GPU only sums in a different
// order and uses CUDA's exp/log (within an ulp or two of glibc's). The backward adds a reduction
// of g * y (float32: accumulated in double) and elementwise products.
DeviceCompareOptions tol(DType dtype, bool double_backward = true) {
  return testing::options_by_dtype(dtype, {{1e-12, 1e-14}, {1e-11, 1e-13}, {1e-10, 1e-12}},
                                   {{2e-6, 1e-7}, {1e-5, 1e-6}, {1e-4, 1e-5}}, double_backward);
}

struct Case {
  Shape shape;
  int64_t axis;
  const char* path;
};

const Case kCases[] = {
    {{5, 10}, -1, "warp per row, short rows"},
    {{3, 1024}, -1, "warp per row, longest"},
    {{3, 1025}, -1, "block per row, shortest"},
    {{2, 5000}, -1, "block per row, long"},
    {{4099, 7}, -1, "warp per row, many rows (multi-block)"},
    {{7, 33}, 0, "thread per slice, axis 0"},
    {{4, 9, 6}, 1, "thread per slice, middle axis"},
    {{3, 1}, 1, "axis of length 1"},
};

TEST(CudaActivation, SoftmaxAndLogSoftmaxEveryPath) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    for (const Case& c : kCases) {
      SCOPED_TRACE(shape_str(c.shape) + " " + c.path + " " + dtype_name(dt));
      const int64_t axis = c.axis;
      const bool big = numel_of(c.shape) > 20000;
      const TensorList in = {random_tensor(c.shape, 71, dt, -3, 3, true)};
      EXPECT_CUDA_MATCHES_CPU([axis](const TensorList& x) { return softmax(x[0], axis); }, in,
                              tol(dt, !big));
      EXPECT_CUDA_MATCHES_CPU([axis](const TensorList& x) { return log_softmax(x[0], axis); }, in,
                              tol(dt, !big));
    }
  }
}

TEST(CudaActivation, SoftmaxOfStridedInputs) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    const TensorList in = {random_tensor({40, 300}, 72, dt, -3, 3, true)};
    // Transposed: the softmax axis has stride 300 in x (thread per slice).
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& x) { return softmax(transpose(x[0], 0, 1), -1); }, in, tol(dt));
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& x) { return log_softmax(transpose(x[0], 0, 1), 0); }, in, tol(dt));
    // A column slice: the axis is contiguous but rows start 300 apart (warp per row, offsets
    // from the outer calculator).
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& x) { return log_softmax(slice(x[0], 1, 5, 290), 1); }, in, tol(dt));
  }
}

TEST(CudaActivation, ExtremeLogitsStayFinite) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    // Logits in [-1000, 1000]: exp without the max shift would overflow.
    const TensorList in = {random_tensor({6, 1500}, 73, dt, -1000, 1000, true)};
    const auto o = tol(dt);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return softmax(x[0], 1); }, in, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return log_softmax(x[0], 1); }, in, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return log_softmax(x[0], 0); }, in, o);
  }
}

}  // namespace
}  // namespace ember
