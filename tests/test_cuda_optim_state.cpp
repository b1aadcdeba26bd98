// The optim/ additions on the GPU against the CPU: Adam/AdamW optimizers with clip_grad_norm and
// the weight average driving GPU parameters; optimizer and EMA state following a model moved to
// the GPU (module.to) after a step; a CPU-saved state loaded into a GPU optimizer. Skipped
// without a GPU. Tolerances as in tests/test_cuda_optim.cpp (same per-element formulas; nvcc
// may contract to fma): float32 rtol 1e-6; the clipping norm is a reduction whose order differs
// between devices, so it is compared with rtol 1e-5.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nn/layers.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "optim/clip.h"
#include "optim/ema.h"
#include "tests/device_compare.h"

namespace ember {
namespace {

using testing::compare_tensors;
using testing::random_tensor;

const Device kGpu = Device::cuda(0);
const testing::Tolerance kTol{1e-5, 1e-6};

// Runs three steps of clip + AdamW + EMA on parameters of `device`; returns params and shadows.
std::vector<Tensor> run_on(Device device, double* last_norm) {
  std::vector<Tensor> params = {random_tensor({1001}, 1, DType::Float32, -1.0, 1.0, true),
                                random_tensor({7, 13}, 2, DType::Float32, -1.0, 1.0, true)};
  for (Tensor& p : params) p = convert(p, DType::Float32, device).set_requires_grad(true);
  optim::AdamW opt(params, {.lr = 0.01, .weight_decay = 0.05});
  optim::ExponentialMovingAverage ema({{"a", params[0]}, {"b", params[1]}}, 0.9);
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < params.size(); ++i)
      params[i].mutable_grad() = convert(
          random_tensor(params[i].shape(), 10 + 2 * step + i, DType::Float32, -3.0, 3.0),
          DType::Float32, device);
    *last_norm = optim::clip_grad_norm(params, 1.0);
    opt.step();
    ema.update();
  }
  std::vector<Tensor> out = params;
  out.push_back(ema.shadow(0));
  out.push_back(ema.shadow(1));
  return out;
}

TEST(CudaOptimizers, ClipAdamWAndEmaMatchCpu) {
  EMBER_REQUIRE_CUDA();
  double norm_cpu = 0.0, norm_gpu = 0.0;
  const std::vector<Tensor> cpu = run_on(Device::cpu(), &norm_cpu);
  const std::vector<Tensor> gpu = run_on(kGpu, &norm_gpu);
  EXPECT_NEAR(norm_gpu, norm_cpu, 1e-5 * norm_cpu);
  for (size_t i = 0; i < cpu.size(); ++i) {
    ASSERT_TRUE(gpu[i].is_cuda());
    const std::string bad = compare_tensors(gpu[i].to(Device::cpu()), cpu[i], kTol,
                                            "tensor " + std::to_string(i));
    EXPECT_TRUE(bad.empty()) << bad;
  }
}

TEST(CudaOptimizers, StateFollowsAModelMovedToTheGpu) {
  EMBER_REQUIRE_CUDA();
  RandomGenerator gen_a(7), gen_b(7);
  nn::Linear a(5, 3, gen_a), b(5, 3, gen_b);
  optim::Adam opt_a(a.parameters(), {.lr = 0.01});
  optim::Adam opt_b(b.parameters(), {.lr = 0.01});
  optim::ExponentialMovingAverage ema_a(a, 0.5), ema_b(b, 0.5);
  auto step = [](nn::Linear& m, optim::Adam& opt, optim::ExponentialMovingAverage& ema, int s) {
    const Tensor x = convert(random_tensor({4, 5}, 100 + s), DType::Float32, m.weight().device());
    opt.zero_grad();
    sum(mul(m.forward(x), m.forward(x))).backward();
    opt.step();
    ema.update();
  };
  step(a, opt_a, ema_a, 0);
  step(b, opt_b, ema_b, 0);
  b.to(kGpu);  // the moments and the shadows follow on the next update
  for (int s = 1; s < 3; ++s) {
    step(a, opt_a, ema_a, s);
    step(b, opt_b, ema_b, s);
  }
  ASSERT_TRUE(opt_b.exp_avg(0).is_cuda());
  ASSERT_TRUE(ema_b.shadow(0).is_cuda());
  for (size_t i = 0; i < 2; ++i) {
    std::string bad = compare_tensors(b.parameters()[i].to(Device::cpu()), a.parameters()[i], kTol,
                                      "parameter " + std::to_string(i));
    EXPECT_TRUE(bad.empty()) << bad;
    bad = compare_tensors(ema_b.shadow(i).to(Device::cpu()), ema_a.shadow(i), kTol,
                          "shadow " + std::to_string(i));
    EXPECT_TRUE(bad.empty()) << bad;
  }
  // A state saved on the GPU loads into a CPU optimizer (converted to the parameter's device).
  optim::Adam opt_c(a.parameters(), {.lr = 0.01});
  opt_c.load_state(opt_b.state());
  EXPECT_FALSE(opt_c.exp_avg(0).is_cuda());
}

}  // namespace
}  // namespace ember
