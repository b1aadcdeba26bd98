// The fused cross-entropy (kernels/loss.h) against the composite it replaces, on the CPU: values,
// gradients and double-backward gradients, with class weights, label smoothing and strided
// logits (runs everywhere). Then the losses on the GPU against the CPU through the ops:
// cross_entropy (fused kernels on both), mse_loss and bce_with_logits, forward, backward and
// double backward, float32 and float64, and a bad label reported as a deferred device error
// (skipped without a GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "ops/ops.h"
#include "tensor/memory.h"
#include "tests/device_compare.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using testing::compare_tensors;
using testing::DeviceCompareOptions;
using testing::random_tensor;
using testing::Tolerance;

Tensor labels(const std::vector<int64_t>& values) {
  return from_vector(values, {static_cast<int64_t>(values.size())}, {.dtype = DType::Int64});
}

std::vector<int64_t> some_labels(int64_t n, int64_t classes) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = (i * 7 + 3) % classes;
  return v;
}

using LossFn = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, double);

// Loss, d loss / d logits, and d <d loss / d logits, V> / d logits for one implementation.
TensorList loss_and_derivatives(LossFn fn, const Tensor& logits_in, const Tensor& target,
                                const Tensor& weight, double eps, bool transposed) {
  Tensor leaf = logits_in.detach().clone();
  leaf.set_requires_grad(true);
  const Tensor logits = transposed ? transpose(leaf, 0, 1) : leaf;
  const Tensor loss = fn(logits, target, weight, eps);
  const Tensor g = grad({loss}, {leaf}, {}, true, true)[0];
  const Tensor V = random_tensor(leaf.shape(), 99, leaf.dtype());
  const Tensor gg = grad({sum(mul(g, V))}, {leaf})[0];
  return {loss.detach(), g.detach(), gg.detach()};
}

TEST(CrossEntropyFused, MatchesTheCompositeOnCpu) {
  for (DType dt : {DType::Float64, DType::Float32}) {
    // float64: only summation order differs (1e-12); float32: the composite rounds logp to
    // float before summing, the fused kernel keeps it in double (1e-5).
    const Tolerance t = dt == DType::Float64 ? Tolerance{1e-12, 1e-13} : Tolerance{1e-5, 1e-6};
    for (bool weighted : {false, true}) {
      for (double eps : {0.0, 0.1}) {
        for (bool transposed : {false, true}) {
          const int64_t N = 13, C = 6;
          const std::string what = std::string(dtype_name(dt)) + (weighted ? " weighted" : "") +
                                   " eps " + std::to_string(eps) + (transposed ? " strided" : "");
          // Transposed: the leaf is [C, N] and the loss sees its transpose (strided logits).
          const Tensor x = random_tensor(transposed ? Shape{C, N} : Shape{N, C}, 5, dt, -3, 3);
          const Tensor target = labels(some_labels(N, C));
          const Tensor w = weighted ? random_tensor({C}, 6, dt, 0.2, 2.0) : Tensor();
          const TensorList fused = loss_and_derivatives(cross_entropy, x, target, w, eps, transposed);
          const TensorList ref =
              loss_and_derivatives(cross_entropy_composite, x, target, w, eps, transposed);
          EXPECT_EQ(compare_tensors(fused[0], ref[0], t, what + " loss"), "");
          EXPECT_EQ(compare_tensors(fused[1], ref[1], t, what + " gradient"), "");
          EXPECT_EQ(compare_tensors(fused[2], ref[2], t, what + " double backward"), "");
        }
      }
    }
  }
}

TEST(CrossEntropyFused, PlainBackwardMatchesTheComposite) {
  // Without create_graph the backward runs the fused closed-form kernel, not the op formula.
  for (bool weighted : {false, true}) {
    for (double eps : {0.0, 0.2}) {
      const Tensor x = random_tensor({5, 9}, 7, DType::Float64, -2, 2);  // used transposed
      const Tensor target = labels(some_labels(9, 5));
      const Tensor w = weighted ? random_tensor({5}, 8, DType::Float64, 0.5, 1.5) : Tensor();
      Tensor a = x.clone(), b = x.clone();
      a.set_requires_grad(true);
      b.set_requires_grad(true);
      mul_scalar(cross_entropy(transpose(a, 0, 1), target, w, eps), 3.0).backward();
      mul_scalar(cross_entropy_composite(transpose(b, 0, 1), target, w, eps), 3.0).backward();
      EXPECT_EQ(compare_tensors(a.grad(), b.grad(), {1e-12, 1e-13},
                                std::string("fused backward") + (weighted ? " weighted" : "") +
                                    " eps " + std::to_string(eps)),
                "");
    }
  }
}

TEST(CrossEntropyFused, WeightRequiringGradTakesTheComposite) {
  const Tensor x = random_tensor({6, 4}, 9, DType::Float64, -2, 2, true);
  const Tensor target = labels(some_labels(6, 4));
  Tensor w = random_tensor({4}, 10, DType::Float64, 0.5, 1.5, true);
  const Tensor gw = grad({cross_entropy(x, target, w, 0.1)}, {w})[0];
  const Tensor gw_ref = grad({cross_entropy_composite(x, target, w, 0.1)}, {w})[0];
  EXPECT_EQ(compare_tensors(gw, gw_ref, {1e-12, 1e-13}, "class weight gradient"), "");
}

// ---- GPU against CPU ----

DeviceCompareOptions tol(DType dtype) {
  // Losses are means over a few thousand terms accumulated in double; the gradients are
  // elementwise closed forms. float32 differs by the ulp-level exp/log differences.
  return testing::options_by_dtype(dtype, {{1e-12, 1e-13}, {1e-11, 1e-13}, {1e-10, 1e-12}},
                                   {{1e-5, 1e-6}, {1e-5, 1e-6}, {1e-4, 1e-5}}, true);
}

TEST(CudaLoss, CrossEntropyFusedMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  struct Case { int64_t N, C; };
  // Short rows (32-thread blocks), rows longer than 1024 (256-thread blocks), many rows.
  for (const Case c : {Case{37, 10}, Case{5, 2000}, Case{3000, 7}}) {
    for (DType dt : {DType::Float32, DType::Float64}) {
      SCOPED_TRACE(std::to_string(c.N) + "x" + std::to_string(c.C) + " " + dtype_name(dt));
      const Tensor x = random_tensor({c.N, c.C}, 21, dt, -4, 4, true);
      const Tensor target = labels(some_labels(c.N, c.C));
      const Tensor w = random_tensor({c.C}, 22, dt, 0.2, 2.0);
      const auto o = tol(dt);
      EXPECT_CUDA_MATCHES_CPU(
          [](const TensorList& t) { return cross_entropy(t[0], t[1]); }, {x, target}, o);
      EXPECT_CUDA_MATCHES_CPU(
          [](const TensorList& t) { return cross_entropy(t[0], t[1], t[2], 0.1); }, {x, target, w},
          o);
      // Strided logits: the kernels read x through its strides.
      EXPECT_CUDA_MATCHES_CPU(
          [](const TensorList& t) {
            return cross_entropy(transpose(transpose(t[0], 0, 1).contiguous(), 0, 1), t[1], t[2], 0.0);
          },
          {x, target, w}, o);
    }
  }
}

// The fused forward records a bad label on the GPU; it is thrown, with the CPU kernel's wording,
// at the next host sync (here .item()), or at the launch under EMBER_CUDA_SYNC=1. The first bad
// sample is the one named, the loss itself is NaN, and a good call afterwards works.
TEST(CudaLoss, CrossEntropyBadLabelIsTheCpuErrorAtTheNextSync) {
  EMBER_REQUIRE_CUDA();
  const char* sync_env = std::getenv("EMBER_CUDA_SYNC");
  const bool sync_mode = sync_env && *sync_env && std::string(sync_env) != "0";
  const Tensor x_cpu = random_tensor({5, 4}, 23);
  const Tensor x = x_cpu.to(Device::cuda(0));
  // Bad labels at samples 1 (7), 3 (-1) and 4 (4): sample 1 is reported, as on the CPU.
  const Tensor bad_cpu = labels({0, 7, 1, -1, 4});
  const std::string cpu = testing::error_of([&] { cross_entropy(x_cpu, bad_cpu); });
  const std::string same = "cross_entropy: target label 7 of sample 1 is out of range [0, 4)";
  EXPECT_NE(cpu.find(same), std::string::npos) << cpu;

  Tensor loss;
  std::string gpu;
  if (sync_mode) {
    gpu = testing::error_of([&] { loss = cross_entropy(x, bad_cpu.to(Device::cuda(0))); });
  } else {
    EXPECT_EQ(testing::error_of([&] { loss = cross_entropy(x, bad_cpu.to(Device::cuda(0))); }), "")
        << "a bad label must not be reported before a host sync";
    float value = 0;
    gpu = testing::error_of([&] { value = loss.item<float>(); });
    EXPECT_NE(gpu.find("earlier asynchronous kernel"), std::string::npos) << gpu;
    // The report cleared the record: the loss can now be read, and it is NaN, not a number.
    EXPECT_EQ(testing::error_of([&] { value = loss.item<float>(); }), "");
    EXPECT_TRUE(std::isnan(value));
  }
  EXPECT_NE(gpu.find(same), std::string::npos) << gpu;

  // A good call afterwards: no error, the CPU's value.
  const Tensor good_cpu = labels({0, 3, 1, 2, 3});
  float good = 0;
  EXPECT_EQ(testing::error_of([&] { good = cross_entropy(x, good_cpu.to(Device::cuda(0))).item<float>(); }),
            "");
  EXPECT_NEAR(good, cross_entropy(x_cpu, good_cpu).item<float>(), 1e-5);
  EXPECT_EQ(testing::error_of([] { cuda_synchronize(); }), "");
}

TEST(CudaLoss, MseAndBceWithLogitsMatchCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dt : {DType::Float32, DType::Float64}) {
    SCOPED_TRACE(dtype_name(dt));
    const auto o = tol(dt);
    const TensorList in = {random_tensor({64, 33}, 31, dt, -3, 3, true),
                           random_tensor({64, 33}, 32, dt, 0, 1, true)};
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& t) { return mse_loss(t[0], t[1]); }, in, o);
    EXPECT_CUDA_MATCHES_CPU([](const TensorList& t) { return bce_with_logits(t[0], t[1]); }, in, o);
  }
}

}  // namespace
}  // namespace ember
