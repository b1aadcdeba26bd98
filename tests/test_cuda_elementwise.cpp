// CPU-vs-CUDA equivalence of the elementwise kernels (kernels/cuda/elementwise.cu) through the
// ops: binary ops with broadcasting and strided operands, every unary op, the uint8 masks, where,
// the fused activation gradients, add_/mul_ on strided views, and the contiguous fast path's
// vector and scalar variants (odd lengths, a misaligned slice). Forward, backward and double
// backward, float32 and float64. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "ops/ops.h"
#include "tests/device_compare.h"
#include "tests/elementwise_tolerance.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using testing::DeviceCompareOptions;
using testing::kFloatTypes;
using testing::random_tensor;

DeviceCompareOptions tol(DType dtype, bool double_backward = true) {
  return testing::elementwise_options(dtype, double_backward);
}

Tensor rand_grad(const Shape& shape, uint64_t seed, DType dtype, double lo = -1, double hi = 1) {
  return random_tensor(shape, seed, dtype, lo, hi, true);
}

TEST(CudaElementwise, BinaryOpsContiguousVectorAndTail) {
  EMBER_REQUIRE_CUDA();
  // 1027: vector body plus a 3-element (float) / 1-element (double) scalar tail; 300001:
  // several hundred blocks; {3, 5, 7}: tiny and odd.
  const Shape shapes[] = {{1027}, {3, 5, 7}, {300001}};
  for (DType dt : kFloatTypes) {
    for (const Shape& s : shapes) {
      const bool big = numel_of(s) > 100000;
      // Denominators in [0.5, 2] keep div well conditioned.
      const TensorList in = {rand_grad(s, 1, dt), rand_grad(s, 2, dt, 0.5, 2.0)};
      auto o = tol(dt, !big);
      SCOPED_TRACE(shape_str(s) + " " + dtype_name(dt));
      EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return add(x[0], x[1]); }, in, o);
      EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return sub(x[0], x[1]); }, in, o);
      EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return mul(x[0], x[1]); }, in, o);
      EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return div(x[0], x[1]); }, in, o);
    }
  }
}

TEST(CudaElementwise, BinaryOpsBroadcastAndStrided) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    const auto o = tol(dt);
    // [4, 1, 5] with [3, 5]: both operands broadcast.
    const TensorList bc = {rand_grad({4, 1, 5}, 3, dt), rand_grad({3, 5}, 4, dt, 0.5, 2.0)};
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return mul(x[0], x[1]); }, bc, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return div(x[0], x[1]); }, bc, o);
    // A scalar-shaped operand and a row vector against a matrix (bias-add shapes).
    const TensorList row = {rand_grad({37, 129}, 5, dt), rand_grad({129}, 6, dt),
                            rand_grad({}, 7, dt)};
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& x) { return sub(add(x[0], x[1]), x[2]); }, row, o);
    // Transposed and stepped (sliced) views: the strided kernel with non-unit strides.
    const TensorList tr = {rand_grad({33, 65}, 8, dt), rand_grad({65, 33}, 9, dt),
                           rand_grad({65, 66}, 10, dt)};
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& x) {
          return mul(add(transpose(x[0], 0, 1), x[1]), slice(x[2], 1, 0, 66, 2));
        },
        tr, o);
    // Enough elements for a multi-block strided launch (a permuted 4-d tensor).
    const TensorList big = {rand_grad({8, 31, 29, 17}, 11, dt), rand_grad({17, 1, 1}, 12, dt)};
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& x) { return add(permute(x[0], {0, 3, 2, 1}), x[1]); }, big,
        tol(dt, false));
  }
}

TEST(CudaElementwise, EqualAndScalarComparisonsGiveUint8) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    // Small integers so that equality is common; b broadcasts along the first axis.
    std::vector<double> va, vb;
    for (int i = 0; i < 7 * 1029; ++i) va.push_back((i * 7919) % 3);
    for (int i = 0; i < 1029; ++i) vb.push_back((i * 104729) % 3);
    const Tensor a = from_vector(va, {7, 1029}, {.dtype = dt});
    const Tensor b = from_vector(vb, {1029}, {.dtype = dt});
    const Tensor same = from_vector(va, {7, 1029}, {.dtype = dt});
    const auto o = tol(dt);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return equal(x[0], x[1]); }, {a, b}, o);
    // Same shapes, contiguous: the vector path with a narrower (uint8) output.
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return equal(x[0], x[1]); }, {a, same}, o);
    const Tensor r = random_tensor({5, 2049}, 13, dt);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return greater(x[0], 0.25); }, {r}, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return less(transpose(x[0], 0, 1), -0.5); },
                            {r}, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return sign(x[0]); }, {r}, o);
    // And the values themselves: the CUDA mask really holds 0s and 1s (not a vacuous match).
    const auto mask = greater(r.to(Device::cuda(0)), 0.25).to_vector<double>();
    const auto ref = r.to_vector<double>();
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(mask[i], ref[i] > 0.25 ? 1.0 : 0.0) << i;
  }
}

TEST(CudaElementwise, UnaryOpsForwardBackwardDoubleBackward) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    const auto o = tol(dt);
    const TensorList any = {rand_grad({3, 1031}, 21, dt, -2, 2)};
    const TensorList pos = {rand_grad({3, 1031}, 22, dt, 0.5, 3)};
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return neg(x[0]); }, any, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return add_scalar(x[0], 0.75); }, any, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return mul_scalar(x[0], -1.5); }, any, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return exp(x[0]); }, any, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return abs(x[0]); }, any, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return clamp(x[0], -0.5, 1.25); }, any, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return reciprocal(x[0]); }, pos, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return sqrt(x[0]); }, pos, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return rsqrt(x[0]); }, pos, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return log(x[0]); }, pos, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return pow(x[0], 2.5); }, pos, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return pow(x[0], -1.5); }, pos, o);
    // A transposed input: the strided unary path.
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return exp(transpose(x[0], 0, 1)); }, any, o);
  }
}

TEST(CudaElementwise, ActivationsAndFusedGradients) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    for (bool double_backward : {false, true}) {
      // double_backward false: the backward runs the fused BinaryOp::*Grad kernels; true: the
      // composite formulas, then their second derivatives.
      SCOPED_TRACE(std::string(dtype_name(dt)) + (double_backward ? " composite" : " fused"));
      const auto o = tol(dt, double_backward);
      const TensorList in = {rand_grad({17, 257}, 31, dt, -4, 4)};
      EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return relu(x[0]); }, in, o);
      EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return leaky_relu(x[0], 0.2); }, in, o);
      EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return sigmoid(x[0]); }, in, o);
      EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return tanh(x[0]); }, in, o);
      EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return silu(x[0]); }, in, o);
      // Strided input to the activation and thus to its fused gradient (b = x strided).
      EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return silu(transpose(x[0], 0, 1)); }, in,
                              o);
    }
  }
}

TEST(CudaElementwise, SigmoidSaturatesLikeTheCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    // exp(-x) overflows for x << 0: 1 / (1 + inf) = 0 on both devices, never NaN.
    const Tensor x = from_vector(std::vector<double>{-1000, -90, -20, 0, 20, 90, 1000}, {7},
                                 {.dtype = dt});
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& t) { return sigmoid(t[0]); }, {x}, tol(dt));
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& t) { return silu(t[0]); }, {x}, tol(dt));
  }
}

TEST(CudaElementwise, NaNPropagatesAsOnTheCpu) {
  EMBER_REQUIRE_CUDA();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = from_vector(std::vector<double>{nan, -2, 0.5, nan, 3}, {5});
  const auto check = [&](const Tensor& cpu, const Tensor& gpu) {
    const auto c = cpu.to_vector<double>(), g = gpu.to_vector<double>();
    for (size_t i = 0; i < c.size(); ++i) {
      EXPECT_EQ(std::isnan(c[i]), std::isnan(g[i])) << i;
      if (!std::isnan(c[i])) {
        EXPECT_EQ(c[i], g[i]) << i;
      }
    }
  };
  const Tensor xg = x.to(Device::cuda(0));
  check(clamp(x, -1, 1), clamp(xg, -1, 1));
  check(relu(x), relu(xg));
  check(sign(x), sign(xg));
  check(greater(x, 0.0), greater(xg, 0.0));
}

TEST(CudaElementwise, WhereWithAnyConditionDtype) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    const auto o = tol(dt);
    const TensorList in = {rand_grad({9, 1, 130}, 41, dt), rand_grad({9, 7, 130}, 42, dt),
                           rand_grad({130}, 43, dt)};
    // uint8 condition from a comparison, broadcast on every operand.
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& x) { return where(greater(x[0], 0.0), x[1], x[2]); }, in, o);
    // A float condition (nonzero = true) with exact zeros in it, broadcast over the values.
    const TensorList plain = {random_tensor({9, 1, 130}, 44, dt), random_tensor({9, 7, 130}, 45, dt),
                              random_tensor({130}, 46, dt)};
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& x) { return where(relu(x[0]), x[1], x[2]); },  // relu: half zeros
        plain, o);
  }
  // Non-float values and an int64 / int32 condition: moved by element size on the GPU.
  const Tensor values = arange(24).reshape({4, 6});
  const Tensor other = full({6}, -7, {.dtype = DType::Int64});
  const Tensor cond = from_vector(std::vector<int64_t>{0, 3, 0, -1}, {4, 1}, {.dtype = DType::Int32});
  EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return where(x[0], x[1], x[2]); },
                          {cond, values, other});
  const Tensor c64 = from_vector(std::vector<int64_t>{1, 0, 1, 0, 0, 1}, {6}, {.dtype = DType::Int64});
  EXPECT_CUDA_MATCHES_CPU([](const TensorList& x) { return where(x[0], x[1], x[2]); },
                          {c64, values, other});
}

TEST(CudaElementwise, InPlaceAddAndMulThroughStridedViews) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    const auto o = tol(dt);
    const TensorList in = {random_tensor({40, 70}, 51, dt), random_tensor({40}, 52, dt),
                           random_tensor({40, 70}, 53, dt)};
    // Each case runs op on a clone of x[0] (no autograd: in-place ops) and returns the clone.
    using InPlaceOp = void (*)(const Tensor& base, const TensorList& x);
    const auto on_clone = [&](const char* what, InPlaceOp op) {
      SCOPED_TRACE(what);
      EXPECT_CUDA_MATCHES_CPU(
          [op](const TensorList& x) {
            NoGradGuard no_grad;
            Tensor base = x[0].clone();
            op(base, x);
            return base;
          },
          in, o);
    };
    // self is a transposed view [70, 40]: add_ must write through its strides; other broadcasts.
    on_clone("add_ strided", [](const Tensor& base, const TensorList& x) {
      add_(transpose(base, 0, 1), x[1], 0.5);
    });
    // Same shape, contiguous: the vector path (2800 elements), alpha = -2.
    on_clone("add_ contiguous",
             [](const Tensor& base, const TensorList& x) { add_(base, x[2], -2.0); });
    // mul_ on a stepped column slice: the unary kernel with a strided out.
    on_clone("mul_ strided", [](const Tensor& base, const TensorList&) {
      mul_(slice(base, 1, 1, 70, 3), -3.0);
    });
  }
}

TEST(CudaElementwise, MisalignedOddSliceTakesTheScalarPath) {
  EMBER_REQUIRE_CUDA();
  const int64_t n = 1001;  // odd, so no vector width divides it
  const Tensor a = random_tensor({n + 1}, 61);
  const Tensor b = random_tensor({n + 1}, 62);
  const Tensor ag = a.to(Device::cuda(0)), bg = b.to(Device::cuda(0));
  // Element 1 of a fresh allocation is 4 bytes past a 16-byte boundary: the slice is contiguous
  // but must not be read with 16-byte loads.
  const Tensor as = slice(ag, 0, 1, n + 1), bs = slice(bg, 0, 1, n + 1);
  ASSERT_TRUE(as.is_contiguous());
  ASSERT_NE(reinterpret_cast<uintptr_t>(as.raw_data()) % 16, 0u);
  const auto expect_close = [](const Tensor& gpu, const Tensor& cpu) {
    const auto g = gpu.to_vector<float>(), c = cpu.to_vector<float>();
    ASSERT_EQ(g.size(), c.size());
    for (size_t i = 0; i < c.size(); ++i)
      ASSERT_NEAR(g[i], c[i], 2e-6 * std::abs(c[i]) + 1e-7) << "element " << i;
  };
  const Tensor a_cpu = slice(a, 0, 1, n + 1), b_cpu = slice(b, 0, 1, n + 1);
  expect_close(add(as, bs), add(a_cpu, b_cpu));              // both misaligned
  expect_close(mul(as, slice(bg, 0, 0, n)), mul(a_cpu, slice(b, 0, 0, n)));  // one aligned
  expect_close(exp(as), exp(a_cpu));                         // unary
  expect_close(sigmoid(as), sigmoid(a_cpu));
  Tensor acc = ag.clone(), acc_cpu = a.clone();
  add_(slice(acc, 0, 1, n + 1), bs, 2.0);                    // misaligned in-place self
  add_(slice(acc_cpu, 0, 1, n + 1), b_cpu, 2.0);
  expect_close(acc, acc_cpu);
}

TEST(CudaElementwise, EmptyTensorsLaunchNothing) {
  EMBER_REQUIRE_CUDA();
  const Tensor a = zeros({0, 5}, {.device = Device::cuda(0)});
  const Tensor b = zeros({5}, {.device = Device::cuda(0)});
  EXPECT_EQ(add(a, b).shape(), (Shape{0, 5}));
  EXPECT_EQ(exp(a).shape(), (Shape{0, 5}));
  EXPECT_EQ(where(greater(a, 0.0), a, b).shape(), (Shape{0, 5}));
  add_(a, b, 1.0);
  // A host read synchronises, so a fault from any launch above would surface here.
  EXPECT_EQ(sum(b).item<float>(), 0.0f);
}

TEST(CudaElementwise, MoreThanTenUnmergeableDimensionsIsAClearError) {
  EMBER_REQUIRE_CUDA();
  // 11 axes of size 2, reversed: no two neighbours can be coalesced, one more than the offset
  // calculator holds (kernels/cuda/offset_calculator.h). The CPU handles any rank; the GPU must
  // say why it does not rather than compute garbage.
  std::vector<int64_t> order;
  for (int64_t d = 10; d >= 0; --d) order.push_back(d);
  const Tensor x = zeros(Shape(11, 2), {.device = Device::cuda(0)});
  EXPECT_ERROR_MENTIONS(exp(permute(x, order)), "at most");
  // Ten such axes still work, and match the CPU.
  const Tensor ten = random_tensor(Shape(10, 2), 81);
  std::vector<int64_t> order10;
  for (int64_t d = 9; d >= 0; --d) order10.push_back(d);
  EXPECT_CUDA_MATCHES_CPU([order10](const TensorList& t) { return exp(permute(t[0], order10)); },
                          {ten}, tol(DType::Float32, false));
}

}  // namespace
}  // namespace ember
