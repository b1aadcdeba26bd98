// CPU-vs-CUDA equivalence checks used by every tests/test_cuda_*.cpp file.
//
// expect_cuda_matches_cpu runs f on CPU inputs and on CUDA copies of them, and compares:
//   1. the forward outputs;
//   2. (when an input requires grad) the gradients of L = sum(f * R), R a fixed random tensor
//      made on the CPU and copied, so both devices differentiate the same scalar;
//   3. (when double_backward is set) the gradients of H = sum_i <dL/dx_i, V_i>, built with
//      create_graph, i.e. the backward of the backward that the WGAN-GP penalty runs.
// Each comparison is |cuda - cpu| <= atol + rtol * |cpu| element by element; the report names
// the stage, the input and the worst element. The tolerance is the caller's: each test states
// the one its op needs, next to the op.
//
// EMBER_REQUIRE_CUDA() skips the test with the reason when no GPU is visible (or the build has
// no CUDA backend): such a test never fails for that reason and never passes without running.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "ops/ops.h"

namespace ember::testing {

struct Tolerance {
  double rtol = 1e-5;
  double atol = 1e-6;
};

struct DeviceCompareOptions {
  Tolerance forward;
  Tolerance backward;
  bool double_backward = false;
  Tolerance double_backward_tol{1e-4, 1e-5};
  uint64_t seed = 4321;
};

// One dtype's tolerances for the three stages.
struct StageTolerances {
  Tolerance forward;
  Tolerance backward;
  Tolerance double_backward;
};

// The options for dtype: f64's tolerances for Float64, f32's otherwise. A test file states both
// once, next to its op, and picks per dtype.
inline DeviceCompareOptions options_by_dtype(DType dtype, const StageTolerances& f64,
                                             const StageTolerances& f32, bool double_backward) {
  const StageTolerances& t = dtype == DType::Float64 ? f64 : f32;
  DeviceCompareOptions o;
  o.forward = t.forward;
  o.backward = t.backward;
  o.double_backward = double_backward;
  o.double_backward_tol = t.double_backward;
  return o;
}

inline constexpr DType kFloatTypes[] = {DType::Float32, DType::Float64};

using DeviceFn = std::function<Tensor(const TensorList&)>;

// Empty string when every stage matches, else a description of the first mismatch.
std::string cuda_matches_cpu(const DeviceFn& f, const TensorList& cpu_inputs,
                             const DeviceCompareOptions& options = {});

// |a - b| <= atol + rtol |b| everywhere (a, b on any device, same shape): "" or the worst element.
std::string compare_tensors(const Tensor& actual, const Tensor& expected, const Tolerance& tol,
                            const std::string& what);

// Uniform [low, high) values of the given dtype on the CPU (deterministic in seed).
Tensor random_tensor(const Shape& shape, uint64_t seed, DType dtype = DType::Float32,
                     double low = -1.0, double high = 1.0, bool requires_grad = false);

}  // namespace ember::testing

#define EMBER_REQUIRE_CUDA()                                                            \
  do {                                                                                  \
    if (!::ember::cuda_available())                                                     \
      GTEST_SKIP() << (::ember::built_with_cuda()                                       \
                           ? "no CUDA device visible: the CUDA path is not exercised"   \
                           : "CPU-only build: the CUDA path is not exercised");         \
  } while (0)

#define EXPECT_CUDA_MATCHES_CPU(...) EXPECT_EQ(::ember::testing::cuda_matches_cpu(__VA_ARGS__), "")
