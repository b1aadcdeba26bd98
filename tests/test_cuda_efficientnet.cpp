// The EfficientNet model (models/efficientnet.h) on the GPU against the CPU: a two-block network
// (float64 and float32, eval and training mode with the same drop-connect and dropout masks,
// which the Philox generator draws identically on both devices) and B2 at 64x64 (float32):
// logits, input gradients and every parameter gradient, matched by name. Skips with a reason
// without a GPU. Run: ember_tests --gtest_filter='CudaEfficientNet.*'.
#include <gtest/gtest.h>

#include <map>

#include "models/efficientnet.h"
#include "tests/device_compare.h"
#include "tests/tiny_efficientnet.h"

namespace ember::models {
namespace {

using testing::compare_tensors;
using testing::Tolerance;

const Device kGpu = Device::cuda(0);

// Runs the same network (same seed) on both devices with the same masks and compares the
// output, the input gradient and every parameter gradient.
void compare_devices(const EfficientNetConfig& config, const EfficientNetOptions& options,
                     DType dtype, bool training, const Shape& input_shape, const Tolerance& fwd,
                     const Tolerance& bwd) {
  RandomGenerator g_cpu(31), g_gpu(31);
  EfficientNet cpu(config, 5, g_cpu, options), gpu(config, 5, g_gpu, options);
  cpu.to(dtype);
  gpu.to(dtype);
  gpu.to(kGpu);
  cpu.train(training);
  gpu.train(training);
  g_cpu.set_state(99, 0);
  g_gpu.set_state(99, 0);

  const Tensor x = testing::random_tensor(input_shape, 1, dtype, 0.0, 255.0);
  Tensor x_cpu = x.clone(), x_gpu = convert(x, dtype, kGpu);
  x_cpu.set_requires_grad(true);
  x_gpu.set_requires_grad(true);
  const Tensor y_cpu = cpu(x_cpu), y_gpu = gpu(x_gpu);
  const std::string mode = std::string(dtype_name(dtype)) + (training ? " training" : " eval");
  EXPECT_EQ(compare_tensors(y_gpu, y_cpu, fwd, "logits"), "") << mode;

  const Tensor R = testing::random_tensor(y_cpu.shape(), 2, dtype);
  sum(mul(y_cpu, R)).backward();
  sum(mul(y_gpu, convert(R, dtype, kGpu))).backward();
  EXPECT_EQ(compare_tensors(x_gpu.grad(), x_cpu.grad(), bwd, "input gradient"), "") << mode;
  std::map<std::string, Tensor> gpu_params;
  for (const auto& [name, p] : gpu.named_parameters()) gpu_params[name] = p;
  for (const auto& [name, p] : cpu.named_parameters()) {
    ASSERT_TRUE(p.grad().defined() && gpu_params.at(name).grad().defined()) << name;
    EXPECT_EQ(compare_tensors(gpu_params.at(name).grad(), p.grad(), bwd, name), "") << mode;
  }
}

TEST(CudaEfficientNet, TwoBlockNetworkMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  const EfficientNetOptions options{.drop_connect_rate = 0.8};  // block2a drops at 0.4
  for (bool training : {false, true}) {
    compare_devices(testing::tiny_efficientnet_config(), options, DType::Float64, training, {4, 8, 8, 3},
                    {1e-9, 1e-11}, {1e-8, 1e-10});
    compare_devices(testing::tiny_efficientnet_config(), options, DType::Float32, training, {4, 8, 8, 3},
                    {1e-3, 1e-5}, {5e-3, 1e-4});
  }
}

TEST(CudaEfficientNet, B2MatchesCpuAt64x64) {
  EMBER_REQUIRE_CUDA();
  // float32 through 23 blocks: exact fp32 on both sides, different summation orders.
  compare_devices(efficientnet_b2_config(), {}, DType::Float32, /*training=*/true,
                  {2, 64, 64, 3}, {2e-3, 1e-4}, {1e-2, 1e-4});
}

}  // namespace
}  // namespace ember::models
