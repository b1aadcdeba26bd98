// CUDA fused optimizer updates (kernels/cuda/optim.cu) against the CPU reference: three steps of
// sgd_step (every momentum / dampening / weight-decay / Nesterov combination) and adam_step
// (Adam, Adam with L2, AdamW) on the same random tensors on both devices, float32 and float64,
// and the SGD optimizer driving GPU parameters; the multi-tensor kernels (kernels/optim.h *_multi)
// against the CPU's and, on the GPU, against the per-tensor CUDA kernels bit for bit; the
// optimizers, EMA and clip_grad_norm_device on GPU parameters against the CPU. Skipped without a
// GPU.
//
// Tolerance: both devices run the same formula (kernels/optim_step.h) in double and round once,
// but nvcc may fuse a * b + c into an fma where the host compiler does not: float64 results may
// differ by a few ulp (rtol 1e-13), float32 ones by one rounding (rtol 1e-6).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "kernels/optim.h"
#include "kernels/optim_step.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "optim/clip.h"
#include "optim/ema.h"
#include "optim/sgd.h"
#include "tests/device_compare.h"

namespace ember {
namespace {

using testing::compare_tensors;
using testing::random_tensor;
using testing::Tolerance;

const Device kGpu = Device::cuda(0);

Tolerance tolerance_for(DType dtype) {
  return dtype == DType::Float64 ? Tolerance{1e-13, 1e-15} : Tolerance{1e-6, 1e-7};
}

Tensor on_gpu(const Tensor& t) { return convert(t, t.dtype(), kGpu); }

// 100003 elements: an odd count, several grid-stride blocks.
constexpr int64_t kN = 100003;

TEST(CudaOptim, SgdStepMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  struct Config {
    double momentum, dampening, weight_decay;
    bool nesterov;
  };
  const std::vector<Config> configs = {{0.0, 0.0, 0.0, false}, {0.0, 0.0, 1e-2, false},
                                       {0.9, 0.0, 0.0, false}, {0.9, 0.25, 1e-2, false},
                                       {0.9, 0.0, 1e-2, true}};
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (const Config& c : configs) {
      const Tensor p_cpu = random_tensor({kN}, 1, dtype, -1.0, 1.0);
      const Tensor p_gpu = on_gpu(p_cpu);
      const Tensor b_cpu = c.momentum != 0.0 ? empty_like(p_cpu) : Tensor();
      const Tensor b_gpu = c.momentum != 0.0 ? empty_like(p_gpu) : Tensor();
      for (int step = 0; step < 3; ++step) {
        const Tensor g = random_tensor({kN}, 10 + step, dtype, -1.0, 1.0);
        kernels::sgd_step(p_cpu, g, b_cpu, 0.05, c.momentum, c.dampening, c.weight_decay,
                          c.nesterov, step == 0);
        kernels::sgd_step(p_gpu, on_gpu(g), b_gpu, 0.05, c.momentum, c.dampening,
                          c.weight_decay, c.nesterov, step == 0);
      }
      const std::string what = std::string(dtype_name(dtype)) + " momentum " +
                               std::to_string(c.momentum) + " dampening " +
                               std::to_string(c.dampening) + " wd " +
                               std::to_string(c.weight_decay) + (c.nesterov ? " nesterov" : "");
      EXPECT_EQ(compare_tensors(p_gpu, p_cpu, tolerance_for(dtype), "param " + what), "");
      if (c.momentum != 0.0) {
        EXPECT_EQ(compare_tensors(b_gpu, b_cpu, tolerance_for(dtype), "buffer " + what), "");
      }
    }
  }
}

TEST(CudaOptim, AdamStepMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  struct Config {
    double weight_decay;
    bool decoupled;
  };
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (const Config& c : {Config{0.0, false}, Config{1e-2, false}, Config{1e-2, true}}) {
      const Tensor p_cpu = random_tensor({kN}, 2, dtype, -1.0, 1.0);
      const Tensor p_gpu = on_gpu(p_cpu);
      const Tensor m_cpu = zeros({kN}, {.dtype = dtype}), v_cpu = zeros({kN}, {.dtype = dtype});
      const Tensor m_gpu = on_gpu(m_cpu), v_gpu = on_gpu(v_cpu);
      for (int64_t step = 1; step <= 3; ++step) {
        const Tensor g = random_tensor({kN}, 20 + step, dtype, -1.0, 1.0);
        kernels::adam_step(p_cpu, g, m_cpu, v_cpu, 1e-3, 0.9, 0.999, 1e-8, c.weight_decay,
                           c.decoupled, step);
        kernels::adam_step(p_gpu, on_gpu(g), m_gpu, v_gpu, 1e-3, 0.9, 0.999, 1e-8,
                           c.weight_decay, c.decoupled, step);
      }
      const std::string what = std::string(dtype_name(dtype)) + (c.decoupled ? " AdamW" : " Adam") +
                               " wd " + std::to_string(c.weight_decay);
      const Tolerance tol = tolerance_for(dtype);
      EXPECT_EQ(compare_tensors(p_gpu, p_cpu, tol, "param " + what), "");
      EXPECT_EQ(compare_tensors(m_gpu, m_cpu, tol, "exp_avg " + what), "");
      EXPECT_EQ(compare_tensors(v_gpu, v_cpu, tol, "exp_avg_sq " + what), "");
    }
  }
}

TEST(CudaOptim, SgdOptimizerOnGpuParametersMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor p_cpu = random_tensor({37, 29}, 3, dtype, -1.0, 1.0, true);
    Tensor p_gpu = on_gpu(p_cpu.detach());
    p_gpu.set_requires_grad(true);
    const optim::SGDOptions options{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3,
                                    .nesterov = true};
    optim::SGD sgd_cpu({p_cpu}, options), sgd_gpu({p_gpu}, options);
    for (int step = 0; step < 3; ++step) {
      const Tensor g = random_tensor({37, 29}, 30 + step, dtype, -1.0, 1.0);
      p_cpu.mutable_grad() = g;
      p_gpu.mutable_grad() = on_gpu(g);
      sgd_cpu.step();
      sgd_gpu.step();
    }
    ASSERT_TRUE(sgd_gpu.momentum_buffer(0).is_cuda());
    EXPECT_EQ(compare_tensors(p_gpu, p_cpu, tolerance_for(dtype), dtype_name(dtype)), "");
  }
}


// ---- multi-tensor kernels ----

using kernels::TensorList;

// Empty, odd, multi-chunk sizes and more tensors than one argument block holds.
std::vector<int64_t> multi_sizes() {
  std::vector<int64_t> sizes = {0, 1, 1073, kernels::kListChunk + 3, 2 * kernels::kListChunk + 1};
  for (int i = 0; i < kernels::kListTensors + 5; ++i) sizes.push_back(1 + (i * 37) % 300);
  return sizes;
}

TensorList random_list(const std::vector<int64_t>& sizes, uint64_t seed, DType dtype, double low,
                       double high) {
  TensorList out;
  for (size_t i = 0; i < sizes.size(); ++i)
    out.push_back(random_tensor({sizes[i]}, seed + 31 * i, dtype, low, high));
  return out;
}

TensorList list_on_gpu(const TensorList& list) {
  TensorList out;
  for (const Tensor& t : list) out.push_back(on_gpu(t));
  return out;
}

std::string compare_lists(const TensorList& got, const TensorList& want, const Tolerance& tol,
                          const std::string& what) {
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string d = compare_tensors(got[i], want[i], tol, what + " #" + std::to_string(i));
    if (!d.empty()) return d;
  }
  return "";
}

const Tolerance kExact{0.0, 0.0};

Tensor f64_on(std::vector<double> v, Device device) {
  const int64_t n = static_cast<int64_t>(v.size());
  return convert(from_vector<double>(v, {n}, {.dtype = DType::Float64}), DType::Float64, device);
}

TEST(CudaOptim, AdamMultiMatchesCpuAndThePerTensorKernel) {
  EMBER_REQUIRE_CUDA();
  const std::vector<int64_t> sizes = multi_sizes();
  const size_t n = sizes.size();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (bool decoupled : {false, true}) {
      const TensorList p_cpu = random_list(sizes, 1, dtype, -1, 1);
      const TensorList m_cpu = random_list(sizes, 2, dtype, -0.1, 0.1);
      const TensorList v_cpu = random_list(sizes, 3, dtype, 0, 0.01);
      const TensorList p_gpu = list_on_gpu(p_cpu), m_gpu = list_on_gpu(m_cpu),
                       v_gpu = list_on_gpu(v_cpu);
      const TensorList p_ref = list_on_gpu(p_cpu), m_ref = list_on_gpu(m_cpu),
                       v_ref = list_on_gpu(v_cpu);
      std::vector<double> sv = {1e-3};
      std::vector<int64_t> slots;
      for (size_t i = 0; i < n; ++i) {
        sv.push_back(0.0);
        slots.push_back(static_cast<int64_t>(1 + i));
      }
      const Tensor s_cpu = f64_on(sv, Device::cpu()), s_gpu = f64_on(sv, kGpu);
      for (int64_t step = 1; step <= 3; ++step) {
        const TensorList g = random_list(sizes, 10 * step, dtype, -1, 1), g_gpu = list_on_gpu(g);
        kernels::adam_step_multi(p_cpu, g, m_cpu, v_cpu, s_cpu, slots, 0.9, 0.999, 1e-8, 1e-2,
                                 decoupled);
        kernels::adam_step_multi(p_gpu, g_gpu, m_gpu, v_gpu, s_gpu, slots, 0.9, 0.999, 1e-8, 1e-2,
                                 decoupled);
        for (size_t i = 0; i < n; ++i)
          kernels::adam_step(p_ref[i], g_gpu[i], m_ref[i], v_ref[i], 1e-3, 0.9, 0.999, 1e-8, 1e-2,
                             decoupled, step);
      }
      const std::string what = std::string(dtype_name(dtype)) + (decoupled ? " AdamW" : " Adam");
      const Tolerance tol = tolerance_for(dtype);
      EXPECT_EQ(compare_lists(p_gpu, p_cpu, tol, "param " + what), "");
      EXPECT_EQ(compare_lists(m_gpu, m_cpu, tol, "exp_avg " + what), "");
      EXPECT_EQ(compare_lists(v_gpu, v_cpu, tol, "exp_avg_sq " + what), "");
      EXPECT_EQ(compare_lists(p_gpu, p_ref, kExact, "param vs per-tensor " + what), "");
      EXPECT_EQ(compare_lists(v_gpu, v_ref, kExact, "exp_avg_sq vs per-tensor " + what), "");
      EXPECT_EQ(compare_tensors(s_gpu, s_cpu, kExact, "step counts " + what), "");
    }
  }
}

TEST(CudaOptim, SgdMultiMatchesCpuAndThePerTensorKernel) {
  EMBER_REQUIRE_CUDA();
  const std::vector<int64_t> sizes = multi_sizes();
  const size_t n = sizes.size();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (bool nesterov : {false, true}) {
      const TensorList p_cpu = random_list(sizes, 4, dtype, -1, 1);
      const TensorList b_cpu = random_list(sizes, 5, dtype, -1, 1);
      const TensorList p_gpu = list_on_gpu(p_cpu), b_gpu = list_on_gpu(b_cpu);
      const TensorList p_ref = list_on_gpu(p_cpu), b_ref = list_on_gpu(b_cpu);
      const Tensor s_cpu = f64_on({0.05}, Device::cpu()), s_gpu = f64_on({0.05}, kGpu);
      for (int step = 0; step < 3; ++step) {
        const TensorList g = random_list(sizes, 20 + step, dtype, -1, 1), g_gpu = list_on_gpu(g);
        std::vector<uint8_t> first(n);
        for (size_t i = 0; i < n; ++i) first[i] = step == static_cast<int>(i % 2);
        kernels::sgd_step_multi(p_cpu, g, b_cpu, first, s_cpu, 0.9, 0.0, 1e-2, nesterov);
        kernels::sgd_step_multi(p_gpu, g_gpu, b_gpu, first, s_gpu, 0.9, 0.0, 1e-2, nesterov);
        for (size_t i = 0; i < n; ++i)
          kernels::sgd_step(p_ref[i], g_gpu[i], b_ref[i], 0.05, 0.9, 0.0, 1e-2, nesterov,
                            first[i] != 0);
      }
      const std::string what = std::string(dtype_name(dtype)) + (nesterov ? " nesterov" : "");
      EXPECT_EQ(compare_lists(p_gpu, p_cpu, tolerance_for(dtype), "param " + what), "");
      EXPECT_EQ(compare_lists(b_gpu, b_cpu, tolerance_for(dtype), "buffer " + what), "");
      EXPECT_EQ(compare_lists(p_gpu, p_ref, kExact, "param vs per-tensor " + what), "");
      EXPECT_EQ(compare_lists(b_gpu, b_ref, kExact, "buffer vs per-tensor " + what), "");
    }
  }
}

TEST(CudaOptim, EmaMultiMatchesCpuAndTheMulAddPair) {
  EMBER_REQUIRE_CUDA();
  const std::vector<int64_t> sizes = multi_sizes();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const TensorList s_cpu = random_list(sizes, 6, dtype, -1, 1);
    const TensorList s_gpu = list_on_gpu(s_cpu), s_ref = list_on_gpu(s_cpu);
    const Tensor c_cpu = f64_on({0.0}, Device::cpu()), c_gpu = f64_on({0.0}, kGpu);
    NoGradGuard no_grad;
    for (int update = 0; update < 3; ++update) {
      const TensorList p = random_list(sizes, 30 + update, dtype, -1, 1), p_gpu = list_on_gpu(p);
      kernels::ema_update_multi(s_cpu, p, c_cpu, 0, 0.999, true, true);
      kernels::ema_update_multi(s_gpu, p_gpu, c_gpu, 0, 0.999, true, true);
      const double d = kernels::optim_step::ema_decay(0.999, true, update);
      for (size_t i = 0; i < sizes.size(); ++i) {
        mul_(s_ref[i], d);
        add_(s_ref[i], p_gpu[i], 1.0 - d);
      }
    }
    const Tolerance tol = tolerance_for(dtype);
    EXPECT_EQ(compare_lists(s_gpu, s_cpu, tol, std::string("shadow ") + dtype_name(dtype)), "");
    EXPECT_EQ(compare_lists(s_gpu, s_ref, tol, std::string("shadow vs mul_/add_ ") +
                                                   dtype_name(dtype)),
              "");
    EXPECT_EQ(compare_tensors(c_gpu, c_cpu, kExact, "update count"), "");
  }
}

TEST(CudaOptim, ClipGradNormDeviceMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  const std::vector<int64_t> sizes = multi_sizes();
  for (double max_norm : {0.5, 1e9}) {
    std::vector<Tensor> p_cpu, p_gpu;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const DType dtype = i % 3 == 0 ? DType::Float64 : DType::Float32;  // two dtype groups
      Tensor p = random_tensor({sizes[i]}, 40 + i, dtype, -1, 1, true);
      Tensor q = on_gpu(p.detach());
      q.set_requires_grad(true);
      p.mutable_grad() = random_tensor({sizes[i]}, 90 + i, dtype, -1, 1);
      q.mutable_grad() = on_gpu(p.grad());
      p_cpu.push_back(p);
      p_gpu.push_back(q);
    }
    const Tensor norm_gpu = optim::clip_grad_norm_device(p_gpu, max_norm);
    EXPECT_TRUE(norm_gpu.is_cuda());
    const double norm_cpu = optim::clip_grad_norm(p_cpu, max_norm);
    EXPECT_NEAR(norm_gpu.item<double>(), norm_cpu, 1e-6 * norm_cpu);
    for (size_t i = 0; i < sizes.size(); ++i)
      EXPECT_EQ(compare_tensors(p_gpu[i].grad(), p_cpu[i].grad(),
                                tolerance_for(p_cpu[i].dtype()), "grad " + std::to_string(i)),
                "");
  }
}

TEST(CudaOptim, AdamWAndEmaOnGpuParametersMatchCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor p_cpu = random_tensor({301, 7}, 50, dtype, -1, 1, true);
    Tensor p_gpu = on_gpu(p_cpu.detach());
    p_gpu.set_requires_grad(true);
    optim::AdamW opt_cpu({p_cpu}), opt_gpu({p_gpu});
    optim::ExponentialMovingAverage ema_cpu({{"p", p_cpu}}, 0.99, true),
        ema_gpu({{"p", p_gpu}}, 0.99, true);
    for (int step = 0; step < 3; ++step) {
      const Tensor g = random_tensor({301, 7}, 60 + step, dtype, -1, 1);
      p_cpu.mutable_grad() = g;
      p_gpu.mutable_grad() = on_gpu(g);
      if (step == 2) {
        opt_cpu.set_lr(3e-4);
        opt_gpu.set_lr(3e-4);
      }
      opt_cpu.step();
      opt_gpu.step();
      ema_cpu.update();
      ema_gpu.update();
    }
    ASSERT_TRUE(opt_gpu.device_scalars().is_cuda());
    EXPECT_EQ(opt_gpu.device_scalars().to_vector<double>(), std::vector<double>({3e-4, 3.0}));
    EXPECT_EQ(ema_gpu.device_count().to_vector<double>(), std::vector<double>({3.0}));
    EXPECT_EQ(compare_tensors(p_gpu, p_cpu, tolerance_for(dtype), dtype_name(dtype)), "");
    EXPECT_EQ(compare_tensors(ema_gpu.shadow(0), ema_cpu.shadow(0), tolerance_for(dtype),
                              dtype_name(dtype)),
              "");
  }
}

}  // namespace
}  // namespace ember
