// The fused input preprocessing (ops/preprocess.h, kernels/preprocess.h): bit for bit what
// Rescaling then Normalization compute as separate ops, from float or uint8 pixels; its
// gradients (finite differences in float64, and the separate ops' gradient bit for bit); its
// argument checks; EfficientNet's forward and one training step's gradients from a uint8 batch
// equal to those from the float32 batch of the same pixels; and CPU against CUDA (skipped
// without a GPU). Run: ember_tests --gtest_filter='*RescaleNormalize*'.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <vector>

#include "models/efficientnet.h"
#include "ops/ops.h"
#include "tests/device_compare.h"
#include "tests/expect_error.h"
#include "tests/gradcheck.h"
#include "tests/tiny_efficientnet.h"

namespace ember {
namespace {

using models::imagenet_mean;
using models::imagenet_variance;

// Every pixel value 0..255 appears on every channel: [2, 16, 8, 3] = 768 values, float32.
Tensor all_pixel_values() {
  std::vector<float> v(2 * 16 * 8 * 3);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 37 + i / 3) % 256);
  return from_vector<float>(v, {2, 16, 8, 3});
}

RescaleNormalize imagenet(DType dtype = DType::Float32) {
  return {.scale = 1.0 / 255.0,
          .mean = from_vector(imagenet_mean(), {3}, {.dtype = dtype}),
          .variance = from_vector(imagenet_variance(), {3}, {.dtype = dtype})};
}

// The separate ops, as models::Rescaling and models::Normalization run them.
Tensor by_separate_ops(const Tensor& x, const RescaleNormalize& p) {
  Tensor y = x * p.scale;
  if (p.offset != 0.0) y = y + p.offset;
  if (!p.mean.defined()) return y;
  return (y - p.mean) *
         reciprocal(clamp(sqrt(p.variance), p.eps, std::numeric_limits<double>::infinity()));
}

// Same dtype, shape and bytes (NaN-safe, and -0 differs from +0).
::testing::AssertionResult same_bits(const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(Device::cpu()).contiguous(), y = b.to(Device::cpu()).contiguous();
  if (x.dtype() != y.dtype() || x.shape() != y.shape())
    return ::testing::AssertionFailure() << x.describe() << " vs " << y.describe();
  if (std::memcmp(x.raw_data(), y.raw_data(), x.numel() * dtype_size(x.dtype())) != 0)
    return ::testing::AssertionFailure() << "values differ, max |a - b| = " << max_abs_diff(x, y);
  return ::testing::AssertionSuccess();
}

TEST(RescaleNormalize, SeparateOpsBitForBitFromFloatAndUint8) {
  const Tensor pixels = all_pixel_values();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const RescaleNormalize p = imagenet(dtype);
    const Tensor expected = by_separate_ops(pixels.to(dtype), p);
    EXPECT_TRUE(same_bits(rescale_normalize(pixels.to(dtype), p), expected));
    // uint8 pixels convert exactly, so they land on the same bits.
    EXPECT_TRUE(same_bits(rescale_normalize(pixels.to(DType::UInt8), p, dtype), expected));
  }
  // The Keras layers themselves (float32 buffers).
  models::Rescaling rescaling(1.0 / 255.0);
  models::Normalization normalization(imagenet_mean(), imagenet_variance());
  EXPECT_TRUE(same_bits(rescale_normalize(pixels.to(DType::UInt8), imagenet()),
                        normalization(rescaling(pixels))));
}

TEST(RescaleNormalize, RescaleWithOffsetAlone) {
  // The GAN's [-1, 1] mapping: x / 127.5 - 1, no normalisation; and a tiny variance that the
  // epsilon clamps.
  const Tensor pixels = all_pixel_values();
  const RescaleNormalize to_unit{
      .scale = 1.0 / 127.5, .offset = -1.0, .mean = Tensor(), .variance = Tensor()};
  EXPECT_TRUE(same_bits(rescale_normalize(pixels.to(DType::UInt8), to_unit),
                        by_separate_ops(pixels, to_unit)));
  const RescaleNormalize clamped{.scale = 0.5,
                                 .offset = 2.0,
                                 .mean = from_vector<float>({1, 2, 3}, {3}),
                                 .variance = from_vector<float>({0, 1e-20f, 4}, {3})};
  EXPECT_TRUE(same_bits(rescale_normalize(pixels, clamped), by_separate_ops(pixels, clamped)));
}

TEST(RescaleNormalize, Gradients) {
  const RescaleNormalize p = imagenet(DType::Float64);
  const Tensor x = testing::random_input({2, 3, 2, 3}, 7, 0.0, 255.0);
  const testing::Fn f = [&](const TensorList& in) { return rescale_normalize(in[0], p); };
  EXPECT_GRADCHECK(f, {x});
  EXPECT_GRADGRADCHECK(f, {x});

  // float32: the same gradient as through the separate ops, bit for bit.
  const RescaleNormalize p32 = imagenet();
  const Tensor a = all_pixel_values().detach().set_requires_grad(true);
  const Tensor b = all_pixel_values().detach().set_requires_grad(true);
  const Tensor r = testing::random_tensor(a.shape(), 3);
  sum(rescale_normalize(a, p32) * r).backward();
  sum(by_separate_ops(b, p32) * r).backward();
  EXPECT_TRUE(same_bits(a.grad(), b.grad()));
}

TEST(RescaleNormalize, RejectsBadArguments) {
  const Tensor x = zeros({1, 2, 2, 3});
  RescaleNormalize p = imagenet();
  EXPECT_ERROR_MENTIONS(rescale_normalize(zeros({1, 2, 2, 4}), p), "statistics of 4 channels");
  EXPECT_ERROR_MENTIONS(rescale_normalize(x.to(DType::Int64), p), "uint8 or float");
  EXPECT_ERROR_MENTIONS(rescale_normalize(x.to(DType::Float64), p), "must be float64");
  EXPECT_ERROR_MENTIONS(rescale_normalize(x.to(DType::UInt8), p, DType::Int64),
                        "output must be float");
  p.variance = Tensor();
  EXPECT_ERROR_MENTIONS(rescale_normalize(x, p), "come together");
  p = imagenet();
  p.mean = p.mean.detach().set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(rescale_normalize(x, p), "not differentiable");
}

// EfficientNet (two blocks) on the same pixels as float32 and as uint8: the same logits, and
// after one training step's forward and backward the same loss and parameter gradients.
TEST(RescaleNormalize, EfficientNetStepFromUint8EqualsFloat32) {
  const Tensor pixels = all_pixel_values();
  const Tensor labels = from_vector<int64_t>({1, 3}, {2}, {.dtype = DType::Int64});
  RandomGenerator g1(11), g2(11);
  models::EfficientNet from_float(testing::tiny_efficientnet_config(), 4, g1);
  models::EfficientNet from_bytes(testing::tiny_efficientnet_config(), 4, g2);
  {
    from_float.eval();
    from_bytes.eval();
    NoGradGuard no_grad;
    EXPECT_TRUE(same_bits(from_float(pixels), from_bytes(pixels.to(DType::UInt8))));
    from_float.train();
    from_bytes.train();
  }
  const Tensor loss_float = cross_entropy(from_float(pixels), labels);
  const Tensor loss_bytes = cross_entropy(from_bytes(pixels.to(DType::UInt8)), labels);
  EXPECT_TRUE(same_bits(loss_float, loss_bytes));
  loss_float.backward();
  loss_bytes.backward();
  const auto a = from_float.named_parameters(), b = from_bytes.named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(a[i].first);
    ASSERT_TRUE(a[i].second.grad().defined());
    EXPECT_TRUE(same_bits(a[i].second.grad(), b[i].second.grad()));
  }
}

TEST(CudaRescaleNormalize, MatchesCpuBitForBit) {
  EMBER_REQUIRE_CUDA();
  const Tensor pixels = all_pixel_values();
  const Device gpu = Device::cuda();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const RescaleNormalize p = imagenet(dtype);
    const RescaleNormalize on_gpu{.scale = p.scale, .mean = p.mean.to(gpu),
                                  .variance = p.variance.to(gpu)};
    const Tensor bytes = pixels.to(DType::UInt8);
    EXPECT_TRUE(same_bits(rescale_normalize(bytes.to(gpu), on_gpu, dtype),
                          rescale_normalize(bytes, p, dtype)));
    EXPECT_TRUE(same_bits(rescale_normalize(pixels.to(dtype).to(gpu), on_gpu),
                          by_separate_ops(pixels.to(dtype), p)));
    const RescaleNormalize to_unit{
      .scale = 1.0 / 127.5, .offset = -1.0, .mean = Tensor(), .variance = Tensor()};
    EXPECT_TRUE(same_bits(rescale_normalize(bytes.to(gpu), to_unit, dtype),
                          rescale_normalize(bytes, to_unit, dtype)));
  }
  const RescaleNormalize p = imagenet(DType::Float64);
  testing::DeviceCompareOptions both_orders;
  both_orders.double_backward = true;
  EXPECT_CUDA_MATCHES_CPU(
      [&](const TensorList& in) {
        const Device d = in[0].device();
        return rescale_normalize(in[0], {.scale = p.scale, .mean = p.mean.to(d),
                                         .variance = p.variance.to(d)});
      },
      {testing::random_tensor({2, 5, 4, 3}, 9, DType::Float64, 0.0, 255.0, true)}, both_orders);
}

TEST(CudaRescaleNormalize, EfficientNetFromUint8EqualsFloat32) {
  EMBER_REQUIRE_CUDA();
  RandomGenerator gen(11);
  models::EfficientNet model(testing::tiny_efficientnet_config(), 4, gen);
  model.to(Device::cuda());
  model.eval();
  NoGradGuard no_grad;
  const Tensor pixels = all_pixel_values();
  EXPECT_TRUE(same_bits(model(pixels.to(Device::cuda())),
                        model(pixels.to(DType::UInt8).to(Device::cuda()))));
}

}  // namespace
}  // namespace ember
