// The same model code on both devices, end to end: (1) the WGAN-GP gradient penalty of a
// projection critic, whose parameter gradients run the backward of a backward through conv,
// leaky ReLU, pooling, linear and embedding; (2) a few SGD steps of a small classifier with the
// layers EfficientNet uses (strided 'same' conv, batch norm, SiLU, depthwise conv, 1x1 conv,
// dropout, global pooling, weighted cross-entropy). GPU results must follow the CPU's within
// float rounding: float64 runs are held to 1e-9, float32 to the spread that different (but exact
// fp32) cuDNN algorithms and summation orders give.
#include <gtest/gtest.h>

#include <memory>

#include "nn/layers.h"
#include "nn/sequential.h"
#include "optim/sgd.h"
#include "tests/device_compare.h"
#include "tests/wgan_critic.h"

namespace ember {
namespace {

using testing::compare_tensors;
using testing::DeviceCompareOptions;
using testing::random_tensor;
using testing::Tolerance;

const Device kGpu = Device::cuda(0);

TEST(CudaEndToEnd, WganGpPenaltyAndItsParameterGradients) {
  EMBER_REQUIRE_CUDA();
  const int64_t N = 8, H = 16, W = 16, C = 3, F1 = 16, F2 = 32, classes = 10;
  for (DType dt : {DType::Float64, DType::Float32}) {
    const bool f64 = dt == DType::Float64;
    TensorList inputs = {
        random_tensor({N, H, W, C}, 1, dt), random_tensor({N, H, W, C}, 2, dt),
        random_tensor({N, 1, 1, 1}, 3, dt, 0.0, 1.0),
        from_vector<int64_t>({0, 3, 9, 1, 1, 5, 7, 2}, {N}, {.dtype = DType::Int64}),
        random_tensor({F1, 3, 3, C}, 10, dt, -0.3, 0.3, true),
        random_tensor({F1}, 11, dt, -0.1, 0.1, true),
        random_tensor({F2, 3, 3, F1}, 12, dt, -0.1, 0.1, true),
        random_tensor({F2}, 13, dt, -0.1, 0.1, true),
        random_tensor({1, F2}, 14, dt, -0.3, 0.3, true),
        random_tensor({1}, 15, dt, -0.1, 0.1, true),
        random_tensor({classes, F2}, 16, dt, -0.3, 0.3, true)};
    DeviceCompareOptions o;
    // float32: a second-order quantity through two convolutions; cuDNN's algorithms and the
    // GPU's summation order legitimately differ from the CPU's in the last bits of each layer.
    o.forward = f64 ? Tolerance{1e-9, 1e-11} : Tolerance{1e-3, 1e-5};
    o.backward = f64 ? Tolerance{1e-8, 1e-10} : Tolerance{5e-3, 1e-4};
    EXPECT_CUDA_MATCHES_CPU(
        [](const TensorList& in) {
          const TensorList params(in.begin() + 4, in.end());
          return testing::gradient_penalty(in[0], in[1], in[2], in[3], params, 10.0);
        },
        inputs, o)
        << dtype_name(dt);
  }
}

// conv 3->16 (3x3, stride 2, same) -> BN -> SiLU -> depthwise 3x3 -> BN -> SiLU
// -> conv 1x1 16->24 -> global average pool -> dropout -> linear 24->10.
std::shared_ptr<nn::Sequential> small_effnet_like(RandomGenerator& init, RandomGenerator& dropout) {
  const auto same = nn::Padding2d::same();
  auto net = std::make_shared<nn::Sequential>();
  net->add(std::make_shared<nn::Conv2d>(3, 16, 3, init,
                                        nn::Conv2dOptions{.stride = 2, .padding = same}));
  net->add(std::make_shared<nn::BatchNorm>(16));
  net->add(std::make_shared<nn::SiLU>());
  net->add(std::make_shared<nn::Conv2d>(16, 16, 3, init,
                                        nn::Conv2dOptions{.padding = same, .groups = 16}));
  net->add(std::make_shared<nn::BatchNorm>(16));
  net->add(std::make_shared<nn::SiLU>());
  net->add(std::make_shared<nn::Conv2d>(16, 24, 1, init));
  net->add(std::make_shared<nn::GlobalAvgPool>());
  net->add(std::make_shared<nn::Dropout>(0.2, dropout));
  net->add(std::make_shared<nn::Linear>(24, 10, init));
  return net;
}

TEST(CudaEndToEnd, SgdStepsOfASmallClassifierFollowTheCpu) {
  EMBER_REQUIRE_CUDA();
  RandomGenerator init_cpu(5), init_gpu(5), drop_cpu(6), drop_gpu(6);
  auto cpu_net = small_effnet_like(init_cpu, drop_cpu);
  auto gpu_net = small_effnet_like(init_gpu, drop_gpu);
  gpu_net->to(kGpu);
  const nn::NamedTensors cpu_params = cpu_net->named_parameters();
  const nn::NamedTensors gpu_params = gpu_net->named_parameters();
  ASSERT_EQ(cpu_params.size(), gpu_params.size());
  for (size_t i = 0; i < cpu_params.size(); ++i)
    ASSERT_TRUE(gpu_params[i].second.is_cuda()) << gpu_params[i].first;

  const optim::SGDOptions sgd{.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4, .nesterov = true};
  optim::SGD cpu_opt(cpu_net->parameters(), sgd), gpu_opt(gpu_net->parameters(), sgd);
  const Tensor images = random_tensor({16, 16, 16, 3}, 7, DType::Float32);
  std::vector<int64_t> label_values(16);
  for (int64_t i = 0; i < 16; ++i) label_values[i] = (i * 7) % 10;
  const Tensor labels = from_vector(label_values, {16}, {.dtype = DType::Int64});
  const Tensor class_weight = random_tensor({10}, 8, DType::Float32, 0.5, 2.0);

  // float32 through three convolutions and two batch norms, then three optimizer steps that
  // feed each step's rounding into the next.
  const Tolerance loss_tol{2e-4, 1e-6}, param_tol{2e-3, 2e-5};
  for (int step = 0; step < 3; ++step) {
    cpu_opt.zero_grad();
    gpu_opt.zero_grad();
    Tensor cpu_loss = cross_entropy(cpu_net->forward(images), labels, class_weight);
    Tensor gpu_loss = cross_entropy(gpu_net->forward(images.to(kGpu)), labels.to(kGpu),
                                    class_weight.to(kGpu));
    EXPECT_EQ(compare_tensors(gpu_loss, cpu_loss, loss_tol, "loss of step " + std::to_string(step)),
              "");
    cpu_loss.backward();
    gpu_loss.backward();
    cpu_opt.step();
    gpu_opt.step();
  }
  for (size_t i = 0; i < cpu_params.size(); ++i)
    EXPECT_EQ(compare_tensors(gpu_params[i].second, cpu_params[i].second, param_tol,
                              cpu_params[i].first),
              "");
  // The BN running statistics took the same three updates.
  const nn::NamedTensors cpu_buffers = cpu_net->named_buffers();
  const nn::NamedTensors gpu_buffers = gpu_net->named_buffers();
  ASSERT_EQ(cpu_buffers.size(), gpu_buffers.size());
  for (size_t i = 0; i < cpu_buffers.size(); ++i)
    EXPECT_EQ(compare_tensors(gpu_buffers[i].second, cpu_buffers[i].second, param_tol,
                              cpu_buffers[i].first),
              "");
}

}  // namespace
}  // namespace ember
