// CUDA batch norm and layer norm (kernels/cuda/norm.cu) against the CPU reference, through the
// ops of ops/norm.h: forward and backward in float32 and float64, channel counts 16 to 1408, row
// counts that make one chunk or ~1000 chunks of the two-pass column sums, strided inputs and
// parameters, the running-statistics update, and double backward where the op has one
// (layer_norm, inference-mode batch_norm); the same for batch norm fused with swish.
// Skipped without a GPU.
//
// Tolerances: both devices accumulate in double and round once to the output dtype, but in a
// different summation order (the CPU's 256-row blocks vs the GPU's chunks), so float32 results
// may differ by one rounding (rtol 1e-5 leaves room for outputs near cancellation), float64 by
// the double sums' reassociation error (~1e-16 * rows relative to the sum of |terms|).
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "ops/norm.h"
#include "tests/device_compare.h"

namespace ember {
namespace {

using testing::compare_tensors;
using testing::DeviceCompareOptions;
using testing::random_tensor;
using testing::Tolerance;

const Device kGpu = Device::cuda(0);

// float32's double backward: composite ops in float32, in a different order.
DeviceCompareOptions options_for(DType dtype, bool double_backward = false) {
  return testing::options_by_dtype(dtype, {{1e-10, 1e-10}, {1e-10, 1e-9}, {1e-9, 1e-9}},
                                   {{1e-5, 1e-5}, {1e-5, 1e-5}, {1e-4, 1e-4}}, double_backward);
}

struct BnCase {
  Shape shape;  // NHWC; M = N*H*W rows, C = shape.back()
};

// The shapes of EfficientNet-like layers: odd channel counts, one chunk (M < 64) to the
// 1024-chunk cap (M = 65536), and C = 1408 (44 column tiles).
const std::vector<BnCase> kBnCases = {
    {{2, 3, 5, 24}},      // M = 30: a single partial chunk
    {{16, 15, 15, 88}},   // M = 3600: 57 chunks of 64, the last partial
    {{8, 7, 7, 1408}},    // M = 392, C = 1408: many column tiles
    {{64, 32, 32, 24}},   // M = 65536: 1024 chunks
};

TEST(CudaNorm, BatchNormTrainingMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (const BnCase& c : kBnCases) {
      const int64_t C = c.shape.back();
      const Tensor x = random_tensor(c.shape, 11, dtype, -2.0, 3.0, true);
      const Tensor w = random_tensor({C}, 12, dtype, 0.5, 1.5, true);
      const Tensor b = random_tensor({C}, 13, dtype, -0.5, 0.5, true);
      auto f = [](const TensorList& in) {
        return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), {.training = true});
      };
      EXPECT_CUDA_MATCHES_CPU(f, {x, w, b}, options_for(dtype))
          << dtype_name(dtype) << " " << shape_str(c.shape);
    }
  }
}

TEST(CudaNorm, BatchNormTrainingLargeBatchFloat32) {
  EMBER_REQUIRE_CUDA();
  // M = 256 * 32 * 32 = 262144 rows (chunks of 256), C = 16: the largest batch the models use.
  const Tensor x = random_tensor({256, 32, 32, 16}, 21, DType::Float32, -1.0, 4.0, true);
  const Tensor w = random_tensor({16}, 22, DType::Float32, 0.5, 1.5, true);
  auto f = [](const TensorList& in) {
    return batch_norm(in[0], in[1], Tensor(), Tensor(), Tensor(), {.training = true});
  };
  EXPECT_CUDA_MATCHES_CPU(f, {x, w}, options_for(DType::Float32));
}

TEST(CudaNorm, BatchNormTrainingStridedInputsAndParameters) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    // x: every other channel of a wider tensor; weight and bias: stride-2 views.
    const Tensor x = random_tensor({4, 9, 11, 176}, 31, dtype, -1.0, 1.0, true);
    const Tensor w = random_tensor({176}, 32, dtype, 0.5, 1.5, true);
    const Tensor b = random_tensor({264}, 33, dtype, -0.5, 0.5, true);
    auto f = [](const TensorList& in) {
      return batch_norm(in[0].slice(3, 0, 176, 2), in[1].slice(0, 1, 176, 2),
                        in[2].slice(0, 0, 264, 3), Tensor(), Tensor(), {.training = true});
    };
    EXPECT_CUDA_MATCHES_CPU(f, {x, w, b}, options_for(dtype)) << dtype_name(dtype);
  }
}

TEST(CudaNorm, BatchNormRunningStatisticsMatchCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (bool unbiased : {false, true}) {
      const int64_t C = 88;
      const Tensor x = random_tensor({8, 13, 13, C}, 41, dtype, -1.0, 2.0);
      // Strided running statistics: stride-2 views of [2C] buffers, updated in place.
      const Tensor rm_cpu = random_tensor({2 * C}, 42, dtype, -0.1, 0.1);
      const Tensor rv_cpu = random_tensor({2 * C}, 43, dtype, 0.9, 1.1);
      const Tensor rm_gpu = convert(rm_cpu, dtype, kGpu), rv_gpu = convert(rv_cpu, dtype, kGpu);
      const BatchNormOptions options{.training = true, .momentum = 0.9,
                                     .unbiased_running_var = unbiased};
      for (int step = 0; step < 2; ++step) {
        batch_norm(x, Tensor(), Tensor(), rm_cpu.slice(0, 0, 2 * C, 2),
                   rv_cpu.slice(0, 1, 2 * C, 2), options);
        batch_norm(convert(x, dtype, kGpu), Tensor(), Tensor(), rm_gpu.slice(0, 0, 2 * C, 2),
                   rv_gpu.slice(0, 1, 2 * C, 2), options);
      }
      const Tolerance tol = options_for(dtype).forward;
      const std::string what = std::string(dtype_name(dtype)) + (unbiased ? " unbiased" : " biased");
      // Whole buffers: the untouched odd/even halves must stay as they were too.
      EXPECT_EQ(compare_tensors(rm_gpu, rm_cpu, tol, "running_mean " + what), "");
      EXPECT_EQ(compare_tensors(rv_gpu, rv_cpu, tol, "running_var " + what), "");
    }
  }
}

TEST(CudaNorm, BatchNormInferenceWithDoubleBackwardMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (const Shape& shape : {Shape{3, 5, 7, 24}, Shape{2, 4, 4, 1408}}) {
      const int64_t C = shape.back();
      const Tensor x = random_tensor(shape, 51, dtype, -2.0, 2.0, true);
      const Tensor w = random_tensor({C}, 52, dtype, 0.5, 1.5, true);
      const Tensor b = random_tensor({C}, 53, dtype, -0.5, 0.5, true);
      const Tensor rm = random_tensor({C}, 54, dtype, -0.2, 0.2);
      const Tensor rv = random_tensor({2 * C}, 55, dtype, 0.5, 1.5);
      auto f = [C](const TensorList& in) {
        // running_var as a stride-2 view.
        return batch_norm(in[0], in[1], in[2], in[3], in[4].slice(0, 0, 2 * C, 2),
                          {.training = false});
      };
      EXPECT_CUDA_MATCHES_CPU(f, {x, w, b, rm, rv}, options_for(dtype, true))
          << dtype_name(dtype) << " " << shape_str(shape);
    }
  }
}

TEST(CudaNorm, LayerNormWithDoubleBackwardMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  struct Case {
    Shape shape;
    int64_t normalized_ndim;
  };
  const std::vector<Case> cases = {
      {{37, 24}, 1},         // D < 32: lanes idle
      {{5, 7, 88}, 1},       // D not a multiple of 32
      {{6, 2, 1408}, 1},     // D = 1408: many elements per lane
      {{3, 4, 6, 4}, 2},     // normalised over two axes, D = 24
  };
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (const Case& c : cases) {
      const Shape normalized(c.shape.end() - c.normalized_ndim, c.shape.end());
      const Tensor x = random_tensor(c.shape, 61, dtype, -2.0, 3.0, true);
      const Tensor w = random_tensor(normalized, 62, dtype, 0.5, 1.5, true);
      const Tensor b = random_tensor(normalized, 63, dtype, -0.5, 0.5, true);
      const int64_t k = c.normalized_ndim;
      auto f = [k](const TensorList& in) { return layer_norm(in[0], k, in[1], in[2]); };
      EXPECT_CUDA_MATCHES_CPU(f, {x, w, b}, options_for(dtype, true))
          << dtype_name(dtype) << " " << shape_str(c.shape);
    }
  }
}

TEST(CudaNorm, LayerNormManyRowsAndStridedInput) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    // 70000 rows: dweight/dbias take ~1000 chunks; x is every other column of a [70000, 48].
    const Tensor x = random_tensor({70000, 48}, 71, dtype, -1.0, 1.0, true);
    const Tensor w = random_tensor({24}, 72, dtype, 0.5, 1.5, true);
    const Tensor b = random_tensor({24}, 73, dtype, -0.5, 0.5, true);
    auto f = [](const TensorList& in) {
      return layer_norm(in[0].slice(1, 1, 48, 2), 1, in[1], in[2]);
    };
    EXPECT_CUDA_MATCHES_CPU(f, {x, w, b}, options_for(dtype)) << dtype_name(dtype);
    // Without weight and bias.
    auto g = [](const TensorList& in) { return layer_norm(in[0], 1, Tensor(), Tensor()); };
    EXPECT_CUDA_MATCHES_CPU(g, {random_tensor({4099, 88}, 74, dtype, -1.0, 1.0, true)},
                            options_for(dtype))
        << dtype_name(dtype);
  }
}

// Fused batch norm + swish (BatchNormActivation::Swish): the one-pass statistics, the swish
// and its derivative in the same kernels, on the shapes above.
TEST(CudaNorm, BatchNormSwishTrainingMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (const BnCase& c : kBnCases) {
      const int64_t C = c.shape.back();
      const Tensor x = random_tensor(c.shape, 91, dtype, -2.0, 3.0, true);
      const Tensor w = random_tensor({C}, 92, dtype, 0.5, 1.5, true);
      const Tensor b = random_tensor({C}, 93, dtype, -0.5, 0.5, true);
      auto f = [](const TensorList& in) {
        return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(),
                          {.training = true, .activation = BatchNormActivation::Swish});
      };
      EXPECT_CUDA_MATCHES_CPU(f, {x, w, b}, options_for(dtype))
          << dtype_name(dtype) << " " << shape_str(c.shape);
    }
  }
  // Strided x, weight and bias views.
  auto g = [](const TensorList& in) {
    return batch_norm(in[0].slice(3, 0, 176, 2), in[1].slice(0, 1, 176, 2),
                      in[2].slice(0, 0, 264, 3), Tensor(), Tensor(),
                      {.training = true, .activation = BatchNormActivation::Swish});
  };
  EXPECT_CUDA_MATCHES_CPU(g, {random_tensor({4, 9, 11, 176}, 94, DType::Float32, -1.0, 1.0, true),
                              random_tensor({176}, 95, DType::Float32, 0.5, 1.5, true),
                              random_tensor({264}, 96, DType::Float32, -0.5, 0.5, true)},
                          options_for(DType::Float32));
}

TEST(CudaNorm, BatchNormSwishRunningStatisticsAndInferenceMatchCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (bool unbiased : {false, true}) {
      const int64_t C = 88;
      const Tensor x = random_tensor({8, 13, 13, C}, 101, dtype, -1.0, 2.0);
      const Tensor rm_cpu = random_tensor({2 * C}, 102, dtype, -0.1, 0.1);
      const Tensor rv_cpu = random_tensor({2 * C}, 103, dtype, 0.9, 1.1);
      const Tensor rm_gpu = convert(rm_cpu, dtype, kGpu), rv_gpu = convert(rv_cpu, dtype, kGpu);
      BatchNormOptions options{.training = true, .momentum = 0.9,
                               .unbiased_running_var = unbiased,
                               .activation = BatchNormActivation::Swish};
      for (int step = 0; step < 2; ++step) {
        batch_norm(x, Tensor(), Tensor(), rm_cpu.slice(0, 0, 2 * C, 2),
                   rv_cpu.slice(0, 1, 2 * C, 2), options);
        batch_norm(convert(x, dtype, kGpu), Tensor(), Tensor(), rm_gpu.slice(0, 0, 2 * C, 2),
                   rv_gpu.slice(0, 1, 2 * C, 2), options);
      }
      const Tolerance tol = options_for(dtype).forward;
      const std::string what = std::string(dtype_name(dtype)) + (unbiased ? " unbiased" : " biased");
      EXPECT_EQ(compare_tensors(rm_gpu, rm_cpu, tol, "running_mean " + what), "");
      EXPECT_EQ(compare_tensors(rv_gpu, rv_cpu, tol, "running_var " + what), "");
      // Inference with nothing to differentiate: the one fused kernel on each device.
      options.training = false;
      const Tensor y_cpu = batch_norm(x, Tensor(), Tensor(), rm_cpu.slice(0, 0, 2 * C, 2),
                                      rv_cpu.slice(0, 1, 2 * C, 2), options);
      const Tensor y_gpu =
          batch_norm(convert(x, dtype, kGpu), Tensor(), Tensor(), rm_gpu.slice(0, 0, 2 * C, 2),
                     rv_gpu.slice(0, 1, 2 * C, 2), options);
      EXPECT_EQ(compare_tensors(y_gpu, y_cpu, tol, "inference y " + what), "");
    }
  }
}

TEST(CudaNorm, BatchNormSwishInferenceWithDoubleBackwardMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const int64_t C = 24;
    auto f = [](const TensorList& in) {
      return batch_norm(in[0], in[1], in[2], in[3], in[4],
                        {.training = false, .activation = BatchNormActivation::Swish});
    };
    EXPECT_CUDA_MATCHES_CPU(f,
                            {random_tensor({3, 5, 7, C}, 111, dtype, -2.0, 2.0, true),
                             random_tensor({C}, 112, dtype, 0.5, 1.5, true),
                             random_tensor({C}, 113, dtype, -0.5, 0.5, true),
                             random_tensor({C}, 114, dtype, -0.2, 0.2),
                             random_tensor({C}, 115, dtype, 0.5, 1.5)},
                            options_for(dtype, true))
        << dtype_name(dtype);
  }
}

TEST(CudaNorm, RepeatedRunsAreBitIdentical) {
  EMBER_REQUIRE_CUDA();
  // The two-pass sums have a fixed order: the same inputs give the same bits on every run.
  const Tensor x = convert(random_tensor({64, 16, 16, 88}, 81, DType::Float32), DType::Float32, kGpu);
  const Tensor dy = convert(random_tensor({64, 16, 16, 88}, 82, DType::Float32), DType::Float32, kGpu);
  for (BatchNormActivation act : {BatchNormActivation::None, BatchNormActivation::Swish}) {
    auto run = [&] {
      Tensor xr = x.detach();
      xr.set_requires_grad(true);
      Tensor y = batch_norm(xr, Tensor(), Tensor(), Tensor(), Tensor(),
                            {.training = true, .activation = act});
      y.backward(dy);
      return std::make_pair(y.to_vector<float>(), xr.grad().to_vector<float>());
    };
    const auto first = run();
    const auto second = run();
    EXPECT_EQ(first.first, second.first);
    EXPECT_EQ(first.second, second.second);
  }
}

}  // namespace
}  // namespace ember
