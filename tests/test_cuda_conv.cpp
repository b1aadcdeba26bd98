// CUDA convolutions (kernels/cuda/conv.cpp: cuDNN, and ember's depthwise kernels in
// kernels/cuda/depthwise_conv.cu) against the CPU reference, through the ops of ops/conv.h so
// forward, input grad, weight grad and double backward (a GAN critic's gradient penalty) are all
// compared: plain, strided with TF 'same' asymmetric padding (both the symmetric-pad path and the
// padded-temporary path), rectangular filters, grouped, pointwise, depthwise with both
// DepthwiseImpl choices, channel multipliers, conv_transpose2d, bias, float32 and float64,
// EfficientNetB2-sized depthwise layers, deterministic and autotuned algorithm choices, the plan
// cache (one entry of descriptors + algorithm per key) and the probe-every-algorithm fallback,
// exact fp32 with TF32 off, and empty tensors.
// CudnnPlan.* test the host-side plan decisions (kernels/conv_plan.h: key, selection, fallback
// order) and the cuDNN error macro; they run without a GPU. Run: ember_tests --gtest_filter='Cud*Conv*:CudnnPlan*'.
#include <gtest/gtest.h>

#include <map>
#include <utility>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/backend_settings.h"
#include "kernels/conv_plan.h"
#include "tests/conv_reference.h"
#include "tests/device_compare.h"
#include "tests/expect_error.h"
#ifdef EMBER_WITH_CUDA
#include "kernels/cuda/conv_cuda.h"
#include "kernels/cuda/cudnn_context.h"
#endif

namespace ember {
namespace {

using kernels::DepthwiseImpl;
using testing::DeviceCompareOptions;
using testing::params_of;
using testing::random_tensor;

struct GpuConvCase {
  const char* name;
  int64_t N, H, W, C, K, R, S;
  Conv2dParams params;
  bool bias = true;
};

std::string describe(const GpuConvCase& c, DType dt, const char* impl = "") {
  return detail::concat(c.name, " ", dtype_name(dt), " ", impl);
}

// Tolerances. float32: both devices sum the same products in different orders (im2col GEMM
// tiles vs cuDNN's algorithms vs ember's gathers), and cuDNN may pick Winograd or FFT, which
// transform the operands and lose a few more bits (tens of ulp). Forward sums R*S*C/groups <= 144
// terms (|y| < ~5, ulp ~5e-7): 3e-4 absolute is still ~1000x below any indexing bug's O(1)
// error. The gradients also sum over N*P*Q (a few hundred terms here), double backward chains
// two such sums: 1e-3 and 2e-3. float64: the same argument at 2^-53.
DeviceCompareOptions conv_options(DType dt) {
  DeviceCompareOptions o;
  if (dt == DType::Float32) {
    o.forward = {1e-4, 3e-4};
    o.backward = {1e-4, 1e-3};
    o.double_backward_tol = {1e-4, 2e-3};
  } else {
    o.forward = {1e-12, 1e-12};
    o.backward = {1e-12, 1e-11};
    o.double_backward_tol = {1e-11, 1e-10};
  }
  o.double_backward = true;
  return o;
}

// EfficientNet-sized layers, first order only: the weight gradient sums up to N*P*Q = 65536
// products (|dw| up to ~100), where float32 ordering differences reach ~1e-3 (a random walk of
// 65536 half-ulp roundings at ulp(100) ~ 8e-6): 5e-3 absolute.
DeviceCompareOptions large_options(DType dt) {
  DeviceCompareOptions o;
  if (dt == DType::Float32) {
    o.forward = {1e-4, 3e-4};
    o.backward = {1e-4, 5e-3};
  } else {
    o.forward = {1e-12, 1e-12};
    o.backward = {1e-11, 1e-9};
  }
  return o;
}

TensorList conv_inputs(const GpuConvCase& c, DType dt, uint64_t seed) {
  TensorList in{random_tensor({c.N, c.H, c.W, c.C}, seed, dt, -1, 1, true),
                random_tensor({c.K, c.R, c.S, c.C / c.params.groups}, seed + 1, dt, -1, 1, true)};
  if (c.bias) in.push_back(random_tensor({c.K}, seed + 2, dt, -1, 1, true));
  return in;
}

testing::DeviceFn conv_fn(const Conv2dParams& p) {
  return [p](const TensorList& in) {
    return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p);
  };
}

bool depthwise(const GpuConvCase& c) {
  return c.params.groups > 1 && c.params.groups == c.C && c.K == c.C;
}

// Shapes chosen so every path of kernels/cuda/conv.cpp runs; the comment says which.
std::vector<GpuConvCase> small_cases() {
  return {
      // Symmetric padding, odd channel counts: cuDNN pads by itself.
      {"3x3 s1 pad1", 2, 7, 6, 5, 7, 3, 3, params_of(1, 1, 1, 1, 1, 1)},
      // TF 'same', stride 2: H pads 0/1 (padded temporary), W pads 1/1 (cuDNN pads).
      {"3x3 s2 same", 2, 8, 9, 4, 6, 3, 3, same_padding(8, 9, 3, 3, 2, 2)},
      // 5x5 'same' stride 2: H 2/2 symmetric, W 1/2 through the temporary.
      {"5x5 s2 same", 2, 9, 10, 3, 5, 5, 5, same_padding(9, 10, 5, 5, 2, 2)},
      // Rectangular filter and strides; pad_bottom < pad_top still gives the symmetric P, while
      // W's right padding needs the temporary.
      {"2x3 s2x1 asym", 2, 7, 6, 3, 4, 2, 3, params_of(2, 1, 1, 0, 0, 2)},
      // Strides larger than the filter, no padding (rows skipped entirely).
      {"1x1 s2", 3, 7, 5, 6, 5, 1, 1, params_of(2, 2, 0, 0, 0, 0), false},
      // Padding wider than the filter reach.
      {"3x3 pad2", 1, 5, 5, 3, 2, 3, 3, params_of(1, 1, 2, 2, 2, 2)},
      {"grouped", 2, 6, 6, 8, 12, 3, 3, params_of(1, 1, 1, 1, 1, 1, 4)},
      {"pointwise", 2, 5, 4, 16, 8, 1, 1, params_of(1, 1, 0, 0, 0, 0)},
      // Depthwise (K == C == groups): ember's kernels or cuDNN.
      {"depthwise 3x3 s1 same", 2, 7, 7, 12, 12, 3, 3, same_padding(7, 7, 3, 3, 1, 1, 12)},
      {"depthwise 5x5 s2 same", 2, 8, 8, 10, 10, 5, 5, same_padding(8, 8, 5, 5, 2, 2, 10)},
      {"depthwise 3x3 s2 asym", 3, 9, 6, 7, 7, 3, 3, params_of(2, 2, 0, 2, 1, 0, 7)},
      // A channel multiplier (K = 2 C, groups = C) is not ember's depthwise: always cuDNN.
      {"depthwise x2", 2, 6, 6, 6, 12, 3, 3, params_of(1, 1, 1, 1, 1, 1, 6)},
  };
}

TEST(CudaConv, Conv2dMatchesCpuWithDoubleBackward) {
  EMBER_REQUIRE_CUDA();
  kernels::BackendSettingsGuard guard;
  for (DType dt : {DType::Float32, DType::Float64}) {
    uint64_t seed = 100;
    for (const GpuConvCase& c : small_cases()) {
      seed += 10;
      const TensorList in = conv_inputs(c, dt, seed);
      if (depthwise(c)) {
        for (DepthwiseImpl impl : {DepthwiseImpl::Ember, DepthwiseImpl::Cudnn}) {
          kernels::set_depthwise_impl(impl);
          EXPECT_CUDA_MATCHES_CPU(conv_fn(c.params), in, conv_options(dt))
              << describe(c, dt, impl == DepthwiseImpl::Ember ? "ember" : "cudnn");
        }
      } else {
        EXPECT_CUDA_MATCHES_CPU(conv_fn(c.params), in, conv_options(dt)) << describe(c, dt);
      }
    }
  }
}

TEST(CudaConv, ConvTranspose2dMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  // conv_transpose2d is conv2d_input_grad on the GPU too. Symmetric pads, then pads the
  // underlying convolution cannot express symmetrically (the padded-temporary dgrad path).
  struct Case {
    const char* name;
    Conv2dParams params;
    int64_t out_pad;
  };
  const Case cases[] = {{"s2 pad1 outpad1 groups2", params_of(2, 2, 1, 1, 1, 1, 2), 1},
                        {"s2 asym pads", params_of(2, 2, 1, 0, 0, 1, 1), 0},
                        {"s1 pad0", params_of(1, 1, 0, 0, 0, 0, 1), 0}};
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (const Case& c : cases) {
      const int64_t Cin = 6, Cout = 8;
      const TensorList in{random_tensor({2, 5, 4, Cin}, 31, dt, -1, 1, true),
                          random_tensor({Cin, 3, 3, Cout / c.params.groups}, 32, dt, -1, 1, true),
                          random_tensor({Cout}, 33, dt, -1, 1, true)};
      const Conv2dParams p = c.params;
      const int64_t op = c.out_pad;
      EXPECT_CUDA_MATCHES_CPU(
          [p, op](const TensorList& t) { return conv_transpose2d(t[0], t[1], t[2], p, op, op); },
          in, conv_options(dt))
          << c.name << " " << dtype_name(dt);
    }
  }
}

// EfficientNetB2 depthwise layers at 64x64 input (scaled batch): many channel blocks, C not a
// multiple of the warp, the weight gradient's multi-chunk reduction, both implementations.
TEST(CudaConv, EfficientNetDepthwiseShapes) {
  EMBER_REQUIRE_CUDA();
  kernels::BackendSettingsGuard guard;
  const std::vector<GpuConvCase> cases = {
      {"dw 32x32 C32 3x3 s1 N64", 64, 32, 32, 32, 32, 3, 3, same_padding(32, 32, 3, 3, 1, 1, 32)},
      {"dw 16x16 C144 5x5 s2 N8", 8, 16, 16, 144, 144, 5, 5,
       same_padding(16, 16, 5, 5, 2, 2, 144)},
      {"dw 5x5 C200 3x3 s2 N3", 3, 5, 5, 200, 200, 3, 3, same_padding(5, 5, 3, 3, 2, 2, 200)},
      {"dw 2x2 C1248 3x3 s1 N4", 4, 2, 2, 1248, 1248, 3, 3,
       same_padding(2, 2, 3, 3, 1, 1, 1248)},
  };
  for (DType dt : {DType::Float32, DType::Float64}) {
    uint64_t seed = 500;
    for (const GpuConvCase& c : cases) {
      seed += 10;
      const TensorList in = conv_inputs(c, dt, seed);
      for (DepthwiseImpl impl : {DepthwiseImpl::Ember, DepthwiseImpl::Cudnn}) {
        kernels::set_depthwise_impl(impl);
        EXPECT_CUDA_MATCHES_CPU(conv_fn(c.params), in, large_options(dt))
            << describe(c, dt, impl == DepthwiseImpl::Ember ? "ember" : "cudnn");
      }
    }
  }
}

// ember's depthwise kernels load 16 bytes per thread only from 16-byte aligned pointers, and
// cuDNN gets aligned copies of misaligned operands: a contiguous view one element into its
// storage must give the same numbers on every path (depthwise with both implementations, and a
// plain convolution through cuDNN). C = 12 would otherwise vectorise for both dtypes.
TEST(CudaConv, MisalignedViews) {
  EMBER_REQUIRE_CUDA();
  kernels::BackendSettingsGuard guard;
  const int64_t N = 2, H = 6, W = 5, C = 12;
  struct Case {
    const char* name;
    int64_t K;
    Conv2dParams params;
  };
  const Case cases[] = {{"depthwise", C, same_padding(H, W, 3, 3, 2, 2, C)},
                        {"plain", 8, params_of(1, 1, 1, 1, 1, 1)}};
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (const Case& c : cases) {
      const TensorList in{random_tensor({1 + N * H * W * C}, 61, dt, -1, 1, true),
                          random_tensor({c.K, 3, 3, C / c.params.groups}, 62, dt, -1, 1, true),
                          random_tensor({c.K}, 63, dt, -1, 1, true)};
      const Conv2dParams p = c.params;
      for (DepthwiseImpl impl : {DepthwiseImpl::Ember, DepthwiseImpl::Cudnn}) {
        kernels::set_depthwise_impl(impl);
        EXPECT_CUDA_MATCHES_CPU(
            [&](const TensorList& t) {
              const Tensor x = slice(t[0], 0, 1, 1 + N * H * W * C).reshape({N, H, W, C});
              return conv2d(x, t[1], t[2], p);
            },
            in, conv_options(dt))
            << c.name << " " << dtype_name(dt)
            << (impl == DepthwiseImpl::Ember ? " ember" : " cudnn");
      }
    }
  }
}

struct ConvResults {
  std::vector<double> y, dx, dw, db;
};

// y = conv2d(x, w, b) on the GPU, and the gradients of sum(y * R).
ConvResults run_on_gpu(const GpuConvCase& c, const TensorList& cpu_in, uint64_t seed) {
  TensorList in;
  for (const Tensor& t : cpu_in) {
    Tensor g = t.detach().to(Device::cuda(0));
    g.set_requires_grad(true);
    in.push_back(g);
  }
  const Tensor y = conv_fn(c.params)(in);
  const Tensor R = random_tensor(y.shape(), seed, y.dtype()).to(Device::cuda(0));
  const TensorList g = grad({sum(mul(y, R))}, in);
  return {y.to_vector<double>(), g[0].to_vector<double>(), g[1].to_vector<double>(),
          g[2].to_vector<double>()};
}

void expect_close(const ConvResults& a, const ConvResults& b, double tol, const std::string& what) {
  auto close = [&](const std::vector<double>& u, const std::vector<double>& v, const char* name) {
    ASSERT_EQ(u.size(), v.size()) << what << " " << name;
    double worst = 0;
    for (size_t i = 0; i < u.size(); ++i) worst = std::max(worst, std::abs(u[i] - v[i]));
    EXPECT_LE(worst, tol) << what << ": " << name << " differs by " << worst;
  };
  close(a.y, b.y, "y");
  close(a.dx, b.dx, "dx");
  close(a.dw, b.dw, "dw");
  close(a.db, b.db, "db");
}

void expect_identical(const ConvResults& a, const ConvResults& b, const std::string& what) {
  EXPECT_EQ(a.y, b.y) << what << ": y differs between runs";
  EXPECT_EQ(a.dx, b.dx) << what << ": dx differs between runs";
  EXPECT_EQ(a.dw, b.dw) << what << ": dw differs between runs";
  EXPECT_EQ(a.db, b.db) << what << ": db differs between runs";
}

// Heuristic, deterministic, autotuned, and autotuned-deterministic choices must all compute
// the same convolution (within float32 reordering: the 576-term sums give |values| < ~30, a few
// ulp of which is < 1e-4; 2e-3 leaves room for Winograd/FFT, which transform the operands and
// lose a few more bits), and deterministic ones bit for bit on rerun.
TEST(CudaConv, DeterministicAndAutotunedChoicesAgree) {
  EMBER_REQUIRE_CUDA();
  kernels::BackendSettingsGuard guard;
  const GpuConvCase cases[] = {
      {"3x3 s1", 4, 12, 12, 64, 48, 3, 3, params_of(1, 1, 1, 1, 1, 1)},
      {"3x3 s2 same", 4, 12, 12, 16, 24, 3, 3, same_padding(12, 12, 3, 3, 2, 2)},
      {"depthwise 5x5 s2", 4, 12, 12, 24, 24, 5, 5, same_padding(12, 12, 5, 5, 2, 2, 24)}};
  for (const GpuConvCase& c : cases) {
    const TensorList in = conv_inputs(c, DType::Float32, 77);
    kernels::set_depthwise_impl(DepthwiseImpl::Cudnn);
    const ConvResults heuristic = run_on_gpu(c, in, 78);
    kernels::set_deterministic(true);
    const ConvResults det1 = run_on_gpu(c, in, 78);
    const ConvResults det2 = run_on_gpu(c, in, 78);
    expect_identical(det1, det2, std::string(c.name) + " deterministic");
    expect_close(det1, heuristic, 2e-3, std::string(c.name) + " deterministic vs heuristic");
    kernels::set_conv_autotune(true);
    const ConvResults tuned_det1 = run_on_gpu(c, in, 78);
    const ConvResults tuned_det2 = run_on_gpu(c, in, 78);
    expect_identical(tuned_det1, tuned_det2, std::string(c.name) + " autotuned deterministic");
    expect_close(tuned_det1, heuristic, 2e-3, std::string(c.name) + " autotuned deterministic");
    kernels::set_deterministic(false);
    const ConvResults tuned = run_on_gpu(c, in, 78);
    expect_close(tuned, heuristic, 2e-3, std::string(c.name) + " autotuned");
    kernels::set_conv_autotune(false);
    if (depthwise(c)) {  // ember's kernels are deterministic whatever the settings say
      kernels::set_depthwise_impl(DepthwiseImpl::Ember);
      const ConvResults ember1 = run_on_gpu(c, in, 78);
      const ConvResults ember2 = run_on_gpu(c, in, 78);
      expect_identical(ember1, ember2, std::string(c.name) + " ember depthwise");
      expect_close(ember1, heuristic, 2e-3, std::string(c.name) + " ember vs cudnn");
    }
  }
}

// A 3x3x512 convolution sums 4608 products per output (|y| ~ 20): exact fp32 stays within ~1e-4
// of the float64 result (a few times more if cuDNN picks Winograd or FFT), while TF32 (inputs
// rounded to 11-bit significands, ~3e-4 relative each) would be off by ~1e-2 typically and
// ~3e-2 at worst over 8192 outputs. With TF32 off (the default) every direction must meet 2e-3.
TEST(CudaConv, Tf32OffIsFp32Accurate) {
  EMBER_REQUIRE_CUDA();
  kernels::BackendSettingsGuard guard;
  kernels::set_allow_tf32(false);
  const GpuConvCase c{"3x3 C512", 2, 8, 8, 512, 64, 3, 3, params_of(1, 1, 1, 1, 1, 1), false};
  const Tensor x = random_tensor({c.N, c.H, c.W, c.C}, 41, DType::Float32);
  const Tensor w = random_tensor({c.K, c.R, c.S, c.C}, 42, DType::Float32);
  const Tensor g = random_tensor({c.N, c.H, c.W, c.K}, 43, DType::Float32);
  auto error = [](const Tensor& gpu, const Tensor& ref64) {
    const std::vector<double> a = gpu.to_vector<double>(), r = ref64.to_vector<double>();
    double worst = 0;
    for (size_t i = 0; i < r.size(); ++i) worst = std::max(worst, std::abs(a[i] - r[i]));
    return worst;
  };
  const Tensor x64 = x.to(DType::Float64), w64 = w.to(DType::Float64), g64 = g.to(DType::Float64);
  const Tensor gx = x.to(Device::cuda(0)), gw = w.to(Device::cuda(0)), gg = g.to(Device::cuda(0));
  EXPECT_LT(error(conv2d(gx, gw, Tensor(), c.params), conv2d(x64, w64, Tensor(), c.params)), 2e-3)
      << "forward";
  EXPECT_LT(error(conv2d_input_grad(gg, gw, x.shape(), c.params),
                  conv2d_input_grad(g64, w64, x.shape(), c.params)),
            2e-3)
      << "input grad";
  // The weight gradient sums N*P*Q = 128 products: smaller, same bound.
  EXPECT_LT(error(conv2d_weight_grad(gx, gg, w.shape(), c.params),
                  conv2d_weight_grad(x64, g64, w.shape(), c.params)),
            2e-3)
      << "weight grad";
  // The opt-in path (heuristics under CUDNN_DEFAULT_MATH, each algorithm run with the math type
  // cuDNN reports for it; with autotuning, Find's ranking) must run and stay within TF32's
  // accuracy: truncating inputs to 10-bit mantissas spreads the 4608-term sums by ~2e-2, worst
  // ~7e-2 over 8192 outputs, so 0.25 (any indexing error is O(10)). Whether TF32 kernels are
  // actually picked is cuDNN's choice, so no lower bound.
  kernels::set_allow_tf32(true);
  for (bool tuned : {false, true}) {
    kernels::set_conv_autotune(tuned);
    const char* how = tuned ? " (TF32 allowed, autotuned)" : " (TF32 allowed)";
    EXPECT_LT(error(conv2d(gx, gw, Tensor(), c.params), conv2d(x64, w64, Tensor(), c.params)),
              0.25)
        << "forward" << how;
    EXPECT_LT(error(conv2d_input_grad(gg, gw, x.shape(), c.params),
                    conv2d_input_grad(g64, w64, x.shape(), c.params)),
              0.25)
        << "input grad" << how;
    EXPECT_LT(error(conv2d_weight_grad(gx, gg, w.shape(), c.params),
                    conv2d_weight_grad(x64, g64, w.shape(), c.params)),
              0.25)
        << "weight grad" << how;
  }
}

TEST(CudaConv, EmptyTensors) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : {DType::Float32, DType::Float64}) {
    // Empty batch: an empty output, and a weight gradient that is an empty sum (zeros).
    const Tensor x0 = random_tensor({0, 5, 5, 3}, 1, dt, -1, 1, true);
    const Tensor w = random_tensor({4, 3, 3, 3}, 2, dt, -1, 1, true);
    EXPECT_CUDA_MATCHES_CPU(conv_fn(params_of(1, 1, 1, 1, 1, 1)), {x0, w}, conv_options(dt))
        << dtype_name(dt) << " empty batch";
    const Tensor gx0 = x0.detach().to(Device::cuda(0));
    const Tensor gy0 = zeros({0, 5, 5, 4}, {.dtype = dt, .device = Device::cuda(0)});
    const Tensor dw = conv2d_weight_grad(gx0, gy0, w.shape(), params_of(1, 1, 1, 1, 1, 1));
    EXPECT_EQ(dw.to_vector<double>(), std::vector<double>(w.numel(), 0.0)) << dtype_name(dt);
    // Zero input rows with padding: every output reads padding only, so y is the bias.
    const Tensor xh0 = random_tensor({2, 0, 3, 2}, 3, dt);
    const Tensor w1 = random_tensor({5, 1, 1, 2}, 4, dt);
    const Tensor b = random_tensor({5}, 5, dt);
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& in) { return conv2d(in[0], in[1], in[2], params_of(1, 1, 1, 1, 0, 0)); },
        {xh0, w1, b}, conv_options(dt))
        << dtype_name(dt) << " zero-height input";
  }
}

#ifdef EMBER_WITH_CUDA
// Empties the cuDNN plan cache on entry and on exit, and turns the fallback-only hook off on
// exit (the hook is not part of the key), so no plan chosen under a test's settings outlives it.
struct PlanCacheScope {
  PlanCacheScope() { kernels::cuda::clear_cudnn_plan_cache(); }
  ~PlanCacheScope() {
    kernels::cuda::set_cudnn_fallback_only(false);
    kernels::cuda::set_cudnn_run_failure({});
    kernels::cuda::clear_cudnn_plan_cache();
  }
  PlanCacheScope(const PlanCacheScope&) = delete;
  PlanCacheScope& operator=(const PlanCacheScope&) = delete;
};

double gpu_cpu_gap(const Tensor& a, const Tensor& b) {
  const std::vector<double> u = a.to_vector<double>(), v = b.to_vector<double>();
  EXPECT_EQ(u.size(), v.size());
  double worst = 0;
  for (size_t i = 0; i < u.size() && i < v.size(); ++i)
    worst = std::max(worst, std::abs(u[i] - v[i]));
  return worst;
}

// One cache entry (descriptors + algorithm) per key: a repeated call adds none and gives the
// same bits (same algorithm on the same cached descriptors; forward algorithms are
// deterministic), interleaving another problem does not disturb it, and each direction, batch
// size and setting is its own entry. The asymmetric case caches the padded problem's
// descriptors (cudnn_padding needs the temporary in H), and must still match the CPU.
TEST(CudaConv, PlanCacheHoldsOneEntryPerKey) {
  EMBER_REQUIRE_CUDA();
  kernels::BackendSettingsGuard guard;
  PlanCacheScope scope;
  const Conv2dParams asym = same_padding(8, 9, 3, 3, 2, 2);
  const Conv2dParams sym = params_of(1, 1, 1, 1, 1, 1);
  for (DType dt : {DType::Float32, DType::Float64}) {
    // Forward tolerance as in conv_options (sums of 36 products here); gradients as backward.
    const double tol_y = dt == DType::Float32 ? 3e-4 : 1e-12;
    const double tol_g = dt == DType::Float32 ? 1e-3 : 1e-11;
    const Tensor x = random_tensor({2, 8, 9, 4}, 71, dt), w = random_tensor({6, 3, 3, 4}, 72, dt);
    const Tensor x2 = random_tensor({2, 7, 6, 4}, 73, dt);
    const Tensor gx = x.to(Device::cuda(0)), gw = w.to(Device::cuda(0));
    const Tensor gx2 = x2.to(Device::cuda(0));
    const Tensor ref = conv2d(x, w, Tensor(), asym);
    const size_t before = kernels::cuda::cudnn_plan_cache_size();
    const Tensor y1 = conv2d(gx, gw, Tensor(), asym);
    EXPECT_EQ(kernels::cuda::cudnn_plan_cache_size(), before + 1) << dtype_name(dt);
    const Tensor y2 = conv2d(gx, gw, Tensor(), asym);
    EXPECT_EQ(kernels::cuda::cudnn_plan_cache_size(), before + 1) << dtype_name(dt);
    EXPECT_EQ(y1.to_vector<double>(), y2.to_vector<double>()) << dtype_name(dt);
    (void)conv2d(gx2, gw, Tensor(), sym);  // another key in between
    EXPECT_EQ(kernels::cuda::cudnn_plan_cache_size(), before + 2) << dtype_name(dt);
    const Tensor y3 = conv2d(gx, gw, Tensor(), asym);
    EXPECT_EQ(kernels::cuda::cudnn_plan_cache_size(), before + 2) << dtype_name(dt);
    EXPECT_EQ(y1.to_vector<double>(), y3.to_vector<double>()) << dtype_name(dt);
    EXPECT_LE(gpu_cpu_gap(y3, ref), tol_y) << dtype_name(dt);
    // The backward directions are keys of their own; each twice, against the CPU.
    const Tensor g = random_tensor(ref.shape(), 74, dt);
    const Tensor gg = g.to(Device::cuda(0));
    const Tensor dx_ref = conv2d_input_grad(g, w, x.shape(), asym);
    const Tensor dw_ref = conv2d_weight_grad(x, g, w.shape(), asym);
    for (int rep = 0; rep < 2; ++rep) {
      EXPECT_LE(gpu_cpu_gap(conv2d_input_grad(gg, gw, x.shape(), asym), dx_ref), tol_g)
          << dtype_name(dt) << " input grad, call " << rep;
      EXPECT_LE(gpu_cpu_gap(conv2d_weight_grad(gx, gg, w.shape(), asym), dw_ref), tol_g)
          << dtype_name(dt) << " weight grad, call " << rep;
      EXPECT_EQ(kernels::cuda::cudnn_plan_cache_size(), before + 4) << dtype_name(dt);
    }
    // A smaller batch and a changed setting are new keys.
    (void)conv2d(slice(gx, 0, 0, 1), gw, Tensor(), asym);
    EXPECT_EQ(kernels::cuda::cudnn_plan_cache_size(), before + 5) << dtype_name(dt);
    kernels::set_deterministic(true);
    EXPECT_LE(gpu_cpu_gap(conv2d(gx, gw, Tensor(), asym), ref), tol_y) << dtype_name(dt);
    EXPECT_EQ(kernels::cuda::cudnn_plan_cache_size(), before + 6) << dtype_name(dt);
    kernels::set_deterministic(false);
  }
}

// The fallback (every algorithm probed one by one, the first supported one that fits chosen)
// must compute the same convolutions as the CPU in every direction, including double backward,
// with and without the determinism filter: the test hook makes every new key skip cuDNN's
// heuristics and timing, as when they offer nothing usable. Tolerances: conv_options.
TEST(CudaConv, FallbackAlgorithmsMatchCpu) {
  EMBER_REQUIRE_CUDA();
  kernels::BackendSettingsGuard guard;
  PlanCacheScope scope;
  kernels::cuda::set_cudnn_fallback_only(true);
  kernels::set_depthwise_impl(DepthwiseImpl::Cudnn);
  const GpuConvCase cases[] = {
      {"3x3 s1 pad1", 2, 7, 6, 5, 7, 3, 3, params_of(1, 1, 1, 1, 1, 1)},
      {"3x3 s2 same", 2, 8, 9, 4, 6, 3, 3, same_padding(8, 9, 3, 3, 2, 2)},
      {"grouped", 2, 6, 6, 8, 12, 3, 3, params_of(1, 1, 1, 1, 1, 1, 4)},
      {"depthwise 3x3 s2 asym", 3, 9, 6, 7, 7, 3, 3, params_of(2, 2, 0, 2, 1, 0, 7)},
  };
  for (bool det : {false, true}) {
    kernels::set_deterministic(det);
    for (DType dt : {DType::Float32, DType::Float64}) {
      uint64_t seed = 900;
      for (const GpuConvCase& c : cases) {
        seed += 10;
        EXPECT_CUDA_MATCHES_CPU(conv_fn(c.params), conv_inputs(c, dt, seed), conv_options(dt))
            << describe(c, dt, det ? "fallback deterministic" : "fallback");
      }
    }
  }
  EXPECT_GT(kernels::cuda::cudnn_plan_cache_size(), 0u);
}

// A plan is cached only after its algorithm has run: with cuDNN refusing to run whatever
// algorithm is tried first for each key (an injected failure), every direction still matches
// the CPU (the next candidate ran), and a later call reuses the algorithm that ran.
TEST(CudaConv, AnAlgorithmThatFailsToRunMovesToTheNextCandidate) {
  EMBER_REQUIRE_CUDA();
  kernels::BackendSettingsGuard guard;
  PlanCacheScope scope;
  kernels::set_depthwise_impl(DepthwiseImpl::Cudnn);
  std::map<std::pair<int, int>, int> refused;  // (direction, layout) -> the algorithm refused
  int refusals = 0;
  kernels::cuda::set_cudnn_run_failure(
      [&](kernels::ConvDirection dir, kernels::CudnnLayout layout, int algo) {
        const auto key = std::make_pair(static_cast<int>(dir), static_cast<int>(layout));
        const auto it = refused.find(key);
        if (it == refused.end()) {  // the first algorithm tried for this (direction, layout)
          refused[key] = algo;
          ++refusals;
          return true;
        }
        return it->second == algo;
      });
  const GpuConvCase c{"3x3 s2 same", 2, 8, 9, 4, 6, 3, 3, same_padding(8, 9, 3, 3, 2, 2)};
  for (DType dt : {DType::Float32, DType::Float64}) {
    refused.clear();
    refusals = 0;
    kernels::cuda::clear_cudnn_plan_cache();
    EXPECT_CUDA_MATCHES_CPU(conv_fn(c.params), conv_inputs(c, dt, 950), conv_options(dt))
        << describe(c, dt, "first candidate refused");
    EXPECT_GE(refusals, 3) << "every direction refused its first candidate once";
    // Cached: the same problem again refuses nothing new and still matches.
    const int before = refusals;
    EXPECT_CUDA_MATCHES_CPU(conv_fn(c.params), conv_inputs(c, dt, 951), conv_options(dt))
        << describe(c, dt, "cached after the refusal");
    EXPECT_EQ(refusals, before);
  }
}

// When no algorithm runs a float32 problem in NHWC, it runs through NCHW copies; when nothing
// runs in either layout, the error names the attempts and no plan is cached for the problem.
TEST(CudaConv, NoAlgorithmInNhwcFallsBackToNchw) {
  EMBER_REQUIRE_CUDA();
  kernels::BackendSettingsGuard guard;
  PlanCacheScope scope;
  kernels::set_depthwise_impl(DepthwiseImpl::Cudnn);
  kernels::cuda::set_cudnn_run_failure([](kernels::ConvDirection, kernels::CudnnLayout layout,
                                          int) { return layout == kernels::CudnnLayout::Nhwc; });
  const GpuConvCase cases[] = {
      {"3x3 s1 pad1", 2, 7, 6, 5, 7, 3, 3, params_of(1, 1, 1, 1, 1, 1)},
      {"1x1 on 1x1 (squeeze-excite)", 4, 1, 1, 24, 6, 1, 1, params_of(1, 1, 0, 0, 0, 0)},
      {"3-channel stem, s2 same", 2, 9, 9, 3, 8, 3, 3, same_padding(9, 9, 3, 3, 2, 2)},
  };
  for (const GpuConvCase& c : cases)
    EXPECT_CUDA_MATCHES_CPU(conv_fn(c.params), conv_inputs(c, DType::Float32, 960),
                            conv_options(DType::Float32))
        << describe(c, DType::Float32, "NHWC refused");
  kernels::cuda::clear_cudnn_plan_cache();
  kernels::cuda::set_cudnn_run_failure(
      [](kernels::ConvDirection, kernels::CudnnLayout, int) { return true; });
  const Tensor x = random_tensor({2, 7, 6, 5}, 961, DType::Float32).to(Device::cuda(0));
  const Tensor w = random_tensor({7, 3, 3, 5}, 962, DType::Float32).to(Device::cuda(0));
  testing::expect_error([&] { (void)conv2d(x, w, Tensor(), params_of(1, 1, 1, 1, 1, 1)); },
                        {"no algorithm ran", "nchw", "failed to run"});
}
#endif  // EMBER_WITH_CUDA

// ---- Host-side plan decisions (no GPU needed) ----

kernels::Conv2dGeometry base_geometry() {
  kernels::Conv2dGeometry g;
  g.N = 8, g.H = 16, g.W = 16, g.C = 32, g.K = 64, g.R = 3, g.S = 3, g.P = 8, g.Q = 8;
  g.stride_h = 2, g.stride_w = 2, g.pad_top = 0, g.pad_left = 0, g.groups = 1;
  return g;
}

TEST(CudnnPlan, KeyDistinguishesEveryField) {
  using kernels::ConvDirection;
  const kernels::Conv2dGeometry g = base_geometry();
  const kernels::BackendSettings s;
  const std::string base = kernels::conv_plan_key(ConvDirection::Forward, g, DType::Float32, 0, s);
  EXPECT_EQ(base, kernels::conv_plan_key(ConvDirection::Forward, g, DType::Float32, 0, s));
  std::vector<std::string> keys{base};
  // Every geometry field, one at a time (the values stay a consistent geometry where it matters
  // little: the key builder does not validate).
  for (int field = 0; field < 15; ++field) {
    kernels::Conv2dGeometry h = g;
    int64_t* fields[] = {&h.N, &h.H, &h.W, &h.C, &h.K, &h.R, &h.S, &h.P, &h.Q, &h.stride_h,
                         &h.stride_w, &h.pad_top, &h.pad_left, &h.groups, nullptr};
    if (!fields[field]) break;
    *fields[field] += 1;
    keys.push_back(kernels::conv_plan_key(ConvDirection::Forward, h, DType::Float32, 0, s));
  }
  keys.push_back(kernels::conv_plan_key(ConvDirection::InputGrad, g, DType::Float32, 0, s));
  keys.push_back(kernels::conv_plan_key(ConvDirection::WeightGrad, g, DType::Float32, 0, s));
  keys.push_back(kernels::conv_plan_key(ConvDirection::Forward, g, DType::Float64, 0, s));
  keys.push_back(kernels::conv_plan_key(ConvDirection::Forward, g, DType::Float32, 1, s));
  for (int flag = 0; flag < 3; ++flag) {
    kernels::BackendSettings t;
    (flag == 0 ? t.allow_tf32 : flag == 1 ? t.deterministic : t.conv_autotune) = true;
    keys.push_back(kernels::conv_plan_key(ConvDirection::Forward, g, DType::Float32, 0, t));
  }
  for (size_t i = 0; i < keys.size(); ++i)
    for (size_t j = i + 1; j < keys.size(); ++j)
      EXPECT_NE(keys[i], keys[j]) << "keys " << i << " and " << j << " collide: " << keys[i];
  EXPECT_EQ(keys.size(), 1u + 14u + 4u + 3u);
}

kernels::ConvAlgoCandidate cand(int algo, size_t ws, bool det = true, bool supported = true,
                                bool tensor_ops = false) {
  kernels::ConvAlgoCandidate c;
  c.algo = algo, c.workspace = ws, c.deterministic = det, c.supported = supported;
  c.uses_tensor_ops = tensor_ops;
  return c;
}

// The order candidates are run in until one succeeds: the selected one first, then every other
// eligible one that fits, in cuDNN's order; nothing when nothing is eligible.
TEST(CudnnPlan, TryOrderStartsWithTheSelectionAndKeepsEveryEligibleCandidate) {
  using kernels::conv_algo_try_order;
  using kernels::fallback_try_order;
  constexpr size_t MiB = size_t{1} << 20;
  // The preferred one (index 0) fits: it leads, the others follow in order.
  EXPECT_EQ(conv_algo_try_order({cand(1, 0), cand(2, MiB), cand(3, 0)}, 64 * MiB, false, false),
            (std::vector<size_t>{0, 1, 2}));
  // The preferred one is over the cap: the smallest fitting one leads; the oversized one is out.
  EXPECT_EQ(conv_algo_try_order({cand(1, 100 * MiB), cand(2, 8 * MiB), cand(3, MiB)}, 64 * MiB,
                                false, false),
            (std::vector<size_t>{2, 1}));
  // Unsupported, non-deterministic (when required) and tensor-op (unless allowed) ones are out.
  EXPECT_EQ(conv_algo_try_order({cand(1, 0, true, false), cand(2, 0, false), cand(3, 0, true, true, true),
                                 cand(4, 0)},
                                64 * MiB, true, false),
            (std::vector<size_t>{3}));
  EXPECT_TRUE(conv_algo_try_order({cand(1, 0, true, false)}, MiB, false, false).empty());
  EXPECT_TRUE(conv_algo_try_order({}, MiB, false, false).empty());
  // The fallback's order: every supported (deterministic) candidate that fits, as probed.
  EXPECT_EQ(fallback_try_order({cand(0, 0, true, false), cand(1, 2 * MiB), cand(2, 0, false),
                                cand(3, 0)},
                               MiB, false),
            (std::vector<size_t>{2, 3}));
  EXPECT_EQ(fallback_try_order({cand(2, 0, false), cand(3, 0)}, MiB, true),
            (std::vector<size_t>{1}));
}

// The layout cuDNN sees is part of the key, so a float32 problem that moved to NCHW is its own
// entry; the default is the dtype's preferred layout.
TEST(CudnnPlan, KeyIncludesTheLayout) {
  using kernels::ConvDirection;
  using kernels::CudnnLayout;
  const kernels::Conv2dGeometry g = base_geometry();
  const kernels::BackendSettings s;
  EXPECT_EQ(kernels::preferred_cudnn_layout(DType::Float32), CudnnLayout::Nhwc);
  EXPECT_EQ(kernels::preferred_cudnn_layout(DType::Float64), CudnnLayout::Nchw);
  EXPECT_NE(kernels::make_conv_plan_key(ConvDirection::Forward, g, DType::Float32, 0, s, CudnnLayout::Nhwc),
            kernels::make_conv_plan_key(ConvDirection::Forward, g, DType::Float32, 0, s, CudnnLayout::Nchw));
  EXPECT_EQ(kernels::make_conv_plan_key(ConvDirection::Forward, g, DType::Float32, 0, s),
            kernels::make_conv_plan_key(ConvDirection::Forward, g, DType::Float32, 0, s, CudnnLayout::Nhwc));
  EXPECT_NE(kernels::conv_plan_key(ConvDirection::Forward, g, DType::Float32, 0, s).find(" nhwc"),
            std::string::npos);
  EXPECT_NE(kernels::conv_plan_key(ConvDirection::Forward, g, DType::Float32, 0, s, CudnnLayout::Nchw)
                .find(" nchw"),
            std::string::npos);
}

// The compact key the cache looks up on every call must be exactly as complete as the string:
// the same variations, each distinct from every other, equal (with equal hashes) when rebuilt.
TEST(CudnnPlan, CompactKeyMatchesStringKey) {
  using kernels::ConvDirection;
  using kernels::ConvPlanKey;
  struct Variant {
    ConvDirection dir;
    kernels::Conv2dGeometry geo;
    DType dtype;
    int device;
    kernels::BackendSettings settings;
  };
  const kernels::Conv2dGeometry g = base_geometry();
  std::vector<Variant> variants{{ConvDirection::Forward, g, DType::Float32, 0, {}}};
  for (int field = 0; field < 14; ++field) {
    kernels::Conv2dGeometry h = g;
    int64_t* fields[] = {&h.N, &h.H, &h.W, &h.C, &h.K, &h.R, &h.S, &h.P, &h.Q, &h.stride_h,
                         &h.stride_w, &h.pad_top, &h.pad_left, &h.groups};
    *fields[field] += 1;
    variants.push_back({ConvDirection::Forward, h, DType::Float32, 0, {}});
  }
  variants.push_back({ConvDirection::InputGrad, g, DType::Float32, 0, {}});
  variants.push_back({ConvDirection::WeightGrad, g, DType::Float32, 0, {}});
  variants.push_back({ConvDirection::Forward, g, DType::Float64, 0, {}});
  variants.push_back({ConvDirection::Forward, g, DType::Float32, 1, {}});
  for (int flag = 0; flag < 3; ++flag) {
    kernels::BackendSettings t;
    (flag == 0 ? t.allow_tf32 : flag == 1 ? t.deterministic : t.conv_autotune) = true;
    variants.push_back({ConvDirection::Forward, g, DType::Float32, 0, t});
  }
  // Two flags at once must differ from each single flag.
  kernels::BackendSettings both;
  both.allow_tf32 = both.deterministic = true;
  variants.push_back({ConvDirection::Forward, g, DType::Float32, 0, both});
  std::vector<ConvPlanKey> keys;
  std::vector<std::string> strings;
  for (const Variant& v : variants) {
    keys.push_back(kernels::make_conv_plan_key(v.dir, v.geo, v.dtype, v.device, v.settings));
    strings.push_back(kernels::conv_plan_key(v.dir, v.geo, v.dtype, v.device, v.settings));
    const ConvPlanKey again =
        kernels::make_conv_plan_key(v.dir, v.geo, v.dtype, v.device, v.settings);
    EXPECT_EQ(again, keys.back()) << strings.back();
    EXPECT_EQ(kernels::ConvPlanKeyHash{}(again), kernels::ConvPlanKeyHash{}(keys.back()));
  }
  size_t hash_collisions = 0;
  for (size_t i = 0; i < keys.size(); ++i)
    for (size_t j = i + 1; j < keys.size(); ++j) {
      EXPECT_EQ(keys[i] == keys[j], strings[i] == strings[j]) << strings[i] << " / " << strings[j];
      EXPECT_FALSE(keys[i] == keys[j]) << strings[i] << " / " << strings[j];
      hash_collisions +=
          kernels::ConvPlanKeyHash{}(keys[i]) == kernels::ConvPlanKeyHash{}(keys[j]) ? 1 : 0;
    }
  // Not required for correctness (the map compares keys), but one-field changes should spread.
  EXPECT_EQ(hash_collisions, 0u);
}

// The fallback tries every algorithm of a direction exactly once, with cuDNN's documented
// determinism (cudnn_ops.h), GEMM-style algorithms first, and nothing marked supported before
// it is probed.
TEST(CudnnPlan, FallbackOrderCoversEveryAlgorithmOnce) {
  using kernels::ConvDirection;
  struct Expect {
    ConvDirection dir;
    int count;                        // cudnnConvolution*Algo_t's ..._COUNT
    std::vector<int> nondeterministic;
  };
  const Expect expects[] = {{ConvDirection::Forward, 8, {}},
                            {ConvDirection::InputGrad, 6, {0}},
                            {ConvDirection::WeightGrad, 7, {0, 3}}};
  for (const Expect& e : expects) {
    const std::vector<kernels::ConvAlgoCandidate> order = kernels::fallback_algo_order(e.dir);
    ASSERT_EQ(order.size(), static_cast<size_t>(e.count));
    std::vector<int> seen(e.count, 0);
    for (const kernels::ConvAlgoCandidate& c : order) {
      ASSERT_GE(c.algo, 0);
      ASSERT_LT(c.algo, e.count);
      ++seen[c.algo];
      const bool nondet = std::find(e.nondeterministic.begin(), e.nondeterministic.end(),
                                    c.algo) != e.nondeterministic.end();
      EXPECT_EQ(c.deterministic, !nondet) << "algo " << c.algo;
      EXPECT_FALSE(c.supported) << "algo " << c.algo;
      EXPECT_EQ(c.workspace, 0u);
    }
    EXPECT_EQ(seen, std::vector<int>(e.count, 1));
    // IMPLICIT_PRECOMP_GEMM (forward) / ALGO_1 (backward, deterministic) first.
    EXPECT_EQ(order.front().algo, 1);
  }
}

TEST(CudnnPlan, FallbackTakesFirstSupportedThatFits) {
  using kernels::select_fallback_algo;
  const size_t MiB = size_t{1} << 20;
  // Unsupported entries are skipped; the first supported one wins when it fits, even if a later
  // one needs less workspace (the order already prefers the more accurate algorithms).
  const std::vector<kernels::ConvAlgoCandidate> probed{
      cand(1, 0, true, false), cand(0, 8 * MiB, false), cand(3, 16 * MiB, true),
      cand(2, 0, true)};
  EXPECT_EQ(select_fallback_algo(probed, 64 * MiB, false), 1u);
  // Deterministic mode skips the non-deterministic one.
  EXPECT_EQ(select_fallback_algo(probed, 64 * MiB, true), 2u);
  // Over the cap: the next supported one that fits.
  EXPECT_EQ(select_fallback_algo(probed, 4 * MiB, false), 3u);
  EXPECT_EQ(select_fallback_algo(probed, 0, true), 3u);
  // Nothing supported, nothing fitting, nothing at all.
  EXPECT_FALSE(select_fallback_algo({cand(1, 0, true, false), cand(0, 0, true, false)}, MiB, false)
                   .has_value());
  EXPECT_FALSE(select_fallback_algo({cand(1, 2 * MiB), cand(0, 3 * MiB)}, MiB, false).has_value());
  EXPECT_FALSE(select_fallback_algo({cand(0, 0, false)}, MiB, true).has_value());
  EXPECT_FALSE(select_fallback_algo({}, MiB, false).has_value());
}

TEST(CudnnPlan, SelectionHonoursPreferenceCapDeterminismAndTensorOps) {
  using kernels::select_conv_algo;
  const size_t MiB = size_t{1} << 20;
  // The first eligible candidate wins when it fits.
  EXPECT_EQ(select_conv_algo({cand(1, 10 * MiB), cand(2, 0)}, 64 * MiB, false, false), 0u);
  // Unsupported entries are skipped.
  EXPECT_EQ(select_conv_algo({cand(1, 0, true, false), cand(2, MiB)}, 64 * MiB, false, false), 1u);
  // Deterministic mode skips nondeterministic ones; otherwise they are fine.
  const std::vector<kernels::ConvAlgoCandidate> mixed{cand(1, 0, false), cand(2, MiB, true)};
  EXPECT_EQ(select_conv_algo(mixed, 64 * MiB, true, false), 1u);
  EXPECT_EQ(select_conv_algo(mixed, 64 * MiB, false, false), 0u);
  // Tensor-op (TF32) candidates only when allowed.
  const std::vector<kernels::ConvAlgoCandidate> tc{cand(1, 0, true, true, true), cand(2, MiB)};
  EXPECT_EQ(select_conv_algo(tc, 64 * MiB, false, false), 1u);
  EXPECT_EQ(select_conv_algo(tc, 64 * MiB, false, true), 0u);
  // Over the cap: the smallest fitting workspace, not the next in preference order; a tie goes
  // to the earlier (preferred) one.
  const std::vector<kernels::ConvAlgoCandidate> big{cand(1, 900 * MiB), cand(2, 300 * MiB),
                                                    cand(3, 100 * MiB), cand(4, 100 * MiB),
                                                    cand(5, 2000 * MiB)};
  EXPECT_EQ(select_conv_algo(big, 1024 * MiB, false, false), 0u);
  EXPECT_EQ(select_conv_algo(big, 512 * MiB, false, false), 2u);
  EXPECT_EQ(select_conv_algo(big, 100 * MiB, false, false), 2u);
  // The fallback also respects determinism.
  const std::vector<kernels::ConvAlgoCandidate> fb{cand(1, 900 * MiB), cand(2, 0, false),
                                                   cand(3, 50 * MiB)};
  EXPECT_EQ(select_conv_algo(fb, 512 * MiB, true, false), 2u);
  EXPECT_EQ(select_conv_algo(fb, 512 * MiB, false, false), 1u);
  // Nothing fits, or nothing eligible.
  EXPECT_FALSE(select_conv_algo(big, 10 * MiB, false, false).has_value());
  EXPECT_FALSE(select_conv_algo({cand(1, 0, false)}, MiB, true, false).has_value());
  EXPECT_FALSE(select_conv_algo({}, MiB, false, false).has_value());
}

TEST(CudnnPlan, WorkspaceCapFromEnvironmentText) {
  const size_t MiB = size_t{1} << 20;
  EXPECT_EQ(kernels::parse_workspace_cap(nullptr), 1024 * MiB);
  EXPECT_EQ(kernels::parse_workspace_cap(""), 1024 * MiB);
  EXPECT_EQ(kernels::parse_workspace_cap("0"), 0u);
  EXPECT_EQ(kernels::parse_workspace_cap("256"), 256 * MiB);
  for (const char* bad : {"abc", "-1", "12x", "1.5"}) {
    SCOPED_TRACE(bad);
    EXPECT_ERROR_MENTIONS(kernels::parse_workspace_cap(bad), "EMBER_CUDNN_WORKSPACE_MB");
  }
}

// ops/conv.cpp's geometry for the given input and params (P and Q from pad_bottom / pad_right).
kernels::Conv2dGeometry geometry_of(int64_t H, int64_t W, int64_t R, int64_t S,
                                    const Conv2dParams& p) {
  kernels::Conv2dGeometry g;
  g.N = 1, g.H = H, g.W = W, g.C = 1, g.K = 1, g.R = R, g.S = S;
  g.stride_h = p.stride_h, g.stride_w = p.stride_w, g.pad_top = p.pad_top,
  g.pad_left = p.pad_left, g.groups = 1;
  g.P = (H + p.pad_top + p.pad_bottom - R) / p.stride_h + 1;
  g.Q = (W + p.pad_left + p.pad_right - S) / p.stride_w + 1;
  return g;
}

TEST(CudnnPlan, AsymmetricPaddingTranslation) {
  // 'same' 3x3 stride 2 on 8: pads 0/1, P = 4; a symmetric 0 gives 3 rows: explicit, padded to
  // (4 - 1) * 2 + 3 = 9 rows with x at row 0. On 9 columns: pads 1/1, symmetric.
  kernels::CudnnPadding p = kernels::cudnn_padding(geometry_of(8, 9, 3, 3, same_padding(8, 9, 3, 3, 2, 2)));
  EXPECT_TRUE(p.explicit_h);
  EXPECT_EQ(p.Hp, 9);
  EXPECT_EQ(p.off_h, 0);
  EXPECT_EQ(p.pad_h, 0);
  EXPECT_FALSE(p.explicit_w);
  EXPECT_EQ(p.Wp, 9);
  EXPECT_EQ(p.pad_w, 1);
  EXPECT_TRUE(p.needs_temporary());
  // 'same' 5x5 stride 2 on 64 (EfficientNet): pads 1/2, P = 32; symmetric 1 gives 31.
  p = kernels::cudnn_padding(geometry_of(64, 64, 5, 5, same_padding(64, 64, 5, 5, 2, 2)));
  EXPECT_TRUE(p.explicit_h && p.explicit_w);
  EXPECT_EQ(p.Hp, 31 * 2 + 5);
  EXPECT_EQ(p.off_h, 1);
  EXPECT_EQ(p.off_w, 1);
  // Pads 1/2 with stride 2 on 7 rows: P = 4 either way, so cuDNN pads symmetrically by 1.
  p = kernels::cudnn_padding(geometry_of(7, 7, 3, 3, params_of(2, 2, 1, 2, 1, 2)));
  EXPECT_FALSE(p.needs_temporary());
  EXPECT_EQ(p.pad_h, 1);
  EXPECT_EQ(p.pad_w, 1);
  // Symmetric padding never needs the temporary.
  p = kernels::cudnn_padding(geometry_of(10, 11, 3, 5, params_of(1, 3, 1, 1, 2, 2)));
  EXPECT_FALSE(p.needs_temporary());
  EXPECT_EQ(p.Hp, 10);
  EXPECT_EQ(p.Wp, 11);
  // Bottom padding alone (top 0, bottom 2, stride 1): P = H, symmetric 0 would give H - 2.
  p = kernels::cudnn_padding(geometry_of(6, 6, 3, 3, params_of(1, 1, 0, 2, 0, 0)));
  EXPECT_TRUE(p.explicit_h);
  EXPECT_EQ(p.Hp, 8);
  EXPECT_FALSE(p.explicit_w);
}

TEST(CudnnPlan, DepthwiseMeansOneChannelPerGroupAndNoMultiplier) {
  kernels::Conv2dGeometry g = base_geometry();
  g.C = g.K = g.groups = 32;
  EXPECT_TRUE(kernels::is_depthwise(g));
  g.K = 64;  // channel multiplier 2
  EXPECT_FALSE(kernels::is_depthwise(g));
  g.K = 32, g.groups = 16;  // grouped, two channels per group
  EXPECT_FALSE(kernels::is_depthwise(g));
  g.C = g.K = g.groups = 1;  // a plain single-channel convolution
  EXPECT_FALSE(kernels::is_depthwise(g));
}

#ifdef EMBER_WITH_CUDA
// Needs no GPU: the macro turns a status into an ember::Error with the call text, file:line and
// cuDNN's description.
TEST(CudnnPlan, CudnnCheckThrowsWithCallTextAndLibraryMessage) {
  auto failing_call = [] { return CUDNN_STATUS_BAD_PARAM; };
  try {
    EMBER_CUDNN_CHECK(failing_call());
    FAIL() << "EMBER_CUDNN_CHECK did not throw";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cuDNN error in failing_call()"), std::string::npos) << what;
    EXPECT_NE(what.find("CUDNN_STATUS_BAD_PARAM"), std::string::npos) << what;
    EXPECT_NE(what.find("test_cuda_conv.cpp"), std::string::npos) << what;
  }
  EXPECT_NO_THROW(EMBER_CUDNN_CHECK(CUDNN_STATUS_SUCCESS));
}
#endif

}  // namespace
}  // namespace ember
