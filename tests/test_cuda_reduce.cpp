// CPU-vs-CUDA equivalence of the reductions (kernels/cuda/reduce.cu) through ops/reduce.h: sum,
// mean, amax over axis sets that take every plan (warp row, block row with a split second pass,
// column with and without a split, strided and broadcast inputs, a full reduction of 2^24+
// elements), argmax along every kind of axis with ties and NaN, and bitwise reproducibility.
// Forward, backward and double backward, float32 and float64. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "ops/ops.h"
#include "tests/device_compare.h"

namespace ember {
namespace {

using testing::DeviceCompareOptions;
using testing::kFloatTypes;
using testing::random_tensor;

// Both devices accumulate in double; only the order differs (a tree against a sequential loop),
// which moves a float32 result by at most an ulp and a float64 one by a few ulp times the
// cancellation in the sum, hence the absolute term.
DeviceCompareOptions tol(DType dtype, bool double_backward = true) {
  return testing::options_by_dtype(dtype, {{1e-12, 1e-12}, {1e-12, 1e-12}, {1e-11, 1e-11}},
                                   {{2e-6, 1e-6}, {2e-6, 1e-6}, {1e-5, 1e-5}}, double_backward);
}

Tensor rand_grad(const Shape& shape, uint64_t seed, DType dtype) {
  return random_tensor(shape, seed, dtype, -1, 1, true);
}

struct AxesCase {
  Shape shape;
  std::vector<int64_t> axes;
  const char* plan;
};

// Each case names the plan it is meant to take (see kernels/cuda/reduce.cu).
const AxesCase kCases[] = {
    {{1}, {}, "single element"},
    {{3, 5, 7}, {}, "full, warp row"},
    {{4099}, {}, "full, block row split in chunks (R > 2048)"},
    {{50, 4099}, {1}, "block row per output, M < target: split"},
    {{3000, 37}, {1}, "warp row per output"},
    {{3000, 3}, {1}, "short rows: column kernel, rows not adjacent"},
    {{5000, 37}, {0}, "column, split over M with a second pass"},
    {{3, 1000}, {0}, "column, no split"},
    {{6, 13, 11, 35}, {0, 1, 2}, "column over coalesced N, H, W (bias / BN shapes)"},
    {{6, 13, 11, 35}, {1, 2}, "column per (n, c) slice"},
    {{6, 13, 11, 35}, {3}, "warp row over the channel axis"},
    {{6, 13, 11, 35}, {0, 3}, "row, reduced axes not contiguous"},
    {{7, 1, 9}, {1}, "size-1 axis: nothing reduced (copy)"},
};

TEST(CudaReduce, SumAndMeanOverAxes) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    for (const AxesCase& c : kCases) {
      SCOPED_TRACE(shape_str(c.shape) + " " + c.plan + " " + dtype_name(dt));
      const TensorList in = {rand_grad(c.shape, 7, dt)};
      const auto axes = c.axes;
      // sum(x * x) so that the double backward is not constant.
      EXPECT_CUDA_MATCHES_CPU([axes](const TensorList& x) { return sum(mul(x[0], x[0]), axes); },
                              in, tol(dt));
      EXPECT_CUDA_MATCHES_CPU([axes](const TensorList& x) { return mean(x[0], axes, true); }, in,
                              tol(dt, false));
    }
  }
}

TEST(CudaReduce, SumOfStridedAndBroadcastInputs) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    const TensorList in = {rand_grad({300, 70}, 8, dt)};
    // Transposed: over axis 1 the column plan reads it, over axis 0 the warp row plan.
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& x) { return sum(transpose(x[0], 0, 1), {1}); }, in, tol(dt));
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& x) { return sum(transpose(x[0], 0, 1), {0}); }, in, tol(dt));
    // Stepped slice and a stride-0 (expanded) input.
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& x) { return sum(slice(x[0], 1, 1, 70, 3), {0}); }, in, tol(dt));
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& x) { return sum(expand(reshape(x[0], {300, 1, 70}), {300, 5, 70}), {0, 1}); },
        in, tol(dt));
    // Broadcast backward: sum_to inside add's backward reduces [300, 70] to [70] on the GPU.
    const TensorList bias = {rand_grad({300, 70}, 9, dt), rand_grad({70}, 10, dt)};
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return add(x[0], x[1]); }, bias, tol(dt));
  }
}

TEST(CudaReduce, FullSumOfTensOfMillionsIsMultiPassAndReproducible) {
  EMBER_REQUIRE_CUDA();
  const int64_t n = (1 << 24) + 12345;  // 16.8 M elements, not a multiple of any chunk
  const Tensor x = random_tensor({n}, 11);
  // Forward only (the backward is an expand, covered above); float32 accumulated in double on
  // both devices: the float results should agree to an ulp.
  DeviceCompareOptions o = tol(DType::Float32, false);
  EXPECT_CUDA_MATCHES_CPU([](const TensorList& t) { return sum(t[0]); }, {x}, o);
  EXPECT_CUDA_MATCHES_CPU([](const TensorList& t) { return amax(t[0]); }, {x}, o);
  // As a [4096, 4099] matrix over both axes separately: the column plan with 4096 rows and the
  // block row plan with 4096 outputs.
  const Tensor m = slice(x, 0, 0, 4096 * 4099).reshape({4096, 4099});
  EXPECT_CUDA_MATCHES_CPU([](const TensorList& t) { return sum(t[0], {0}); }, {m}, o);
  EXPECT_CUDA_MATCHES_CPU([](const TensorList& t) { return sum(t[0], {1}); }, {m}, o);
  // Two runs give the same bits (no atomics, a plan fixed by the shape).
  const Tensor xg = x.to(Device::cuda(0));
  const float first = sum(xg).item<float>();
  const float second = sum(xg).item<float>();
  EXPECT_EQ(std::memcmp(&first, &second, sizeof(float)), 0);
  const auto c0 = sum(m.to(Device::cuda(0)), {0}).to_vector<float>();
  const auto c1 = sum(m.to(Device::cuda(0)), {0}).to_vector<float>();
  EXPECT_EQ(std::memcmp(c0.data(), c1.data(), c0.size() * sizeof(float)), 0);
}

TEST(CudaReduce, SumOverAnEmptyAxisIsZero) {
  EMBER_REQUIRE_CUDA();
  const Tensor x = zeros({0, 3}, {.device = Device::cuda(0)});
  const auto s = sum(x, {0}).to_vector<float>();
  ASSERT_EQ(s.size(), 3u);
  for (float v : s) EXPECT_EQ(v, 0.0f);
  EXPECT_EQ(sum(x, {1}).numel(), 0);
}

TEST(CudaReduce, AmaxValuesAndTiedGradients) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    for (const AxesCase& c : kCases) {
      SCOPED_TRACE(shape_str(c.shape) + " " + c.plan + " " + dtype_name(dt));
      const auto axes = c.axes;
      EXPECT_CUDA_MATCHES_CPU([axes](const TensorList& x) { return amax(x[0], axes); },
                              {rand_grad(c.shape, 12, dt)}, tol(dt));
    }
    // Integer values in {0..3}: many ties, whose gradient is shared on both devices alike.
    std::vector<double> v;
    for (int i = 0; i < 40 * 33; ++i) v.push_back((i * 37) % 4);
    Tensor ties = from_vector(v, {40, 33}, {.dtype = dt});
    ties.set_requires_grad(true);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return amax(x[0], {1}); }, {ties}, tol(dt));
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return amax(x[0], {0}); }, {ties}, tol(dt));
  }
}

TEST(CudaReduce, AmaxPropagatesNaN) {
  EMBER_REQUIRE_CUDA();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Rows: NaN first, NaN in the middle, none; long enough (3000) for the block row plan too.
  for (int64_t n : {5, 3000}) {
    std::vector<double> v(3 * n);
    for (int64_t i = 0; i < 3 * n; ++i) v[i] = std::sin(0.1 * i);
    v[0] = nan;
    v[n + n / 2] = nan;
    const Tensor x = from_vector(v, {3, n});
    for (const std::vector<int64_t>& axes : {std::vector<int64_t>{1}, std::vector<int64_t>{0}}) {
      const auto cpu = amax(x, axes).to_vector<double>();
      const auto gpu = amax(x.to(Device::cuda(0)), axes).to_vector<double>();
      ASSERT_EQ(cpu.size(), gpu.size());
      for (size_t i = 0; i < cpu.size(); ++i) {
        EXPECT_EQ(std::isnan(cpu[i]), std::isnan(gpu[i])) << "n " << n << " output " << i;
        if (!std::isnan(cpu[i])) {
          EXPECT_EQ(cpu[i], gpu[i]) << "n " << n << " output " << i;
        }
      }
    }
  }
}

TEST(CudaReduce, ArgmaxEveryAxisFirstOfTies) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    std::vector<double> v;
    for (int i = 0; i < 6 * 7 * 2050; ++i) v.push_back((i * 7919) % 13);  // many ties
    const Tensor x = from_vector(v, {6, 7, 2050}, {.dtype = dt});
    // axis 2: rows of 2050 (block of 256); axes 1 and 0: the column kernel (a CPU-like scan).
    for (int64_t axis : {2, 1, 0}) {
      EXPECT_CUDA_MATCHES_CPU([axis](const TensorList& t) { return argmax(t[0], axis); }, {x});
    }
    // Short rows (a warp-sized block) and a transposed input.
    const Tensor r = random_tensor({1000, 10}, 13, dt);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& t) { return argmax(t[0], 1); }, {r});
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& t) { return argmax(transpose(t[0], 0, 1), 1); },
                            {r});
    // Row kernel with a non-unit step: every other column of r.
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& t) { return argmax(slice(t[0], 1, 0, 10, 2), 1); },
                            {r});
  }
}

TEST(CudaReduce, ArgmaxNaNAsTheCpuScan) {
  EMBER_REQUIRE_CUDA();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  // CPU rule: a NaN first element wins (index 0); later NaNs are never picked.
  const std::vector<std::vector<double>> rows = {
      {nan, 1, 2, 3}, {1, nan, 3, 2}, {-inf, -inf, -inf, -inf}, {nan, nan, nan, nan},
      {2, 2, nan, 2}, {-1, nan, nan, -0.5}};
  std::vector<double> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  const Tensor x = from_vector(flat, {static_cast<int64_t>(rows.size()), 4});
  for (int64_t axis : {1, 0}) {
    const auto cpu = argmax(x, axis).to_vector<int64_t>();
    const auto gpu = argmax(x.to(Device::cuda(0)), axis).to_vector<int64_t>();
    EXPECT_EQ(cpu, gpu) << "axis " << axis;
  }
  const std::vector<int64_t> expected = {0, 2, 0, 0, 0, 3};
  EXPECT_EQ(argmax(x.to(Device::cuda(0)), 1).to_vector<int64_t>(), expected);
}

}  // namespace
}  // namespace ember
