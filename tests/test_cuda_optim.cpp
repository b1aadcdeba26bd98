// CUDA fused optimizer updates (kernels/cuda/optim.cu) against the CPU reference: three steps of
// sgd_step (every momentum / dampening / weight-decay / Nesterov combination) and adam_step
// (Adam, Adam with L2, AdamW) on the same random tensors on both devices, float32 and float64,
// and the SGD optimizer driving GPU parameters. Skipped without a GPU.
//
// Tolerance: both devices run the same formula (kernels/optim_step.h) in double and round once,
// but nvcc may fuse a * b + c into an fma where the host compiler does not: float64 results may
// differ by a few ulp (rtol 1e-13), float32 ones by one rounding (rtol 1e-6).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/optim.h"
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

}  // namespace
}  // namespace ember
