// Tensor basics: factories, dtypes and conversions (bfloat16 rounding), devices, printing,
// allclose, and the error messages for misuse.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ops/ops.h"

namespace ember {
namespace {

TEST(Tensor, FactoriesAndMetadata) {
  Tensor t = full({2, 3}, 1.5, {.dtype = DType::Float64});
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.dtype(), DType::Float64);
  EXPECT_TRUE(t.device().is_cpu());
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.to_vector<double>(), std::vector<double>(6, 1.5));
  EXPECT_EQ(arange(4).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(scalar_tensor(2.0).dim(), 0);
  EXPECT_EQ(scalar_tensor(2.0).item<float>(), 2.0f);
  EXPECT_EQ(zeros({0, 3}).numel(), 0);
}

TEST(Tensor, DtypeConversions) {
  Tensor f = from_vector<float>({1.25f, -2.5f, 255.0f}, {3});
  EXPECT_EQ(f.to(DType::Int32).to_vector<int32_t>(), (std::vector<int32_t>{1, -2, 255}));
  EXPECT_EQ(f.to(DType::UInt8).to_vector<uint8_t>()[2], 255);
  EXPECT_EQ(f.to(DType::Float64).to_vector<double>(), (std::vector<double>{1.25, -2.5, 255.0}));
  Tensor images = from_vector<uint8_t>({0, 128, 255}, {3}, {.dtype = DType::UInt8});
  EXPECT_EQ(images.to(DType::Float32).to_vector<float>(), (std::vector<float>{0, 128, 255}));
}

TEST(Tensor, BFloat16RoundsToNearestEven) {
  // 1 + 2^-8 lies exactly between two bfloat16 values (1 and 1 + 2^-7): ties go to even (1).
  EXPECT_EQ(static_cast<float>(bfloat16(1.0f + 1.0f / 256)), 1.0f);
  // 1 + 3 * 2^-8 ties between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
  EXPECT_EQ(static_cast<float>(bfloat16(1.0f + 3.0f / 256)), 1.0f + 1.0f / 64);
  EXPECT_TRUE(std::isnan(static_cast<float>(bfloat16(std::numeric_limits<float>::quiet_NaN()))));
  Tensor x = from_vector<float>({3.14159f, -1e-3f, 65504.0f}, {3});
  Tensor back = x.to(DType::BFloat16).to(DType::Float32);
  EXPECT_EQ(x.to(DType::BFloat16).dtype(), DType::BFloat16);
  EXPECT_TRUE(allclose(back, x, 1.0 / 128, 0.0));  // 8 bits of mantissa
  EXPECT_FALSE(allclose(back, x, 1e-6, 0.0));
}

TEST(Tensor, CastIsDifferentiableBetweenFloatTypes) {
  Tensor x = from_vector<double>({1, 2}, {2}, {.dtype = DType::Float64, .requires_grad = true});
  Tensor y = sum(mul(x.to(DType::Float32), x.to(DType::Float32)));
  y.backward();
  EXPECT_EQ(x.grad().dtype(), DType::Float64);
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 4}));
}

TEST(Tensor, Printing) {
  Tensor t = from_vector<float>({1, 2.5f, 3, 4}, {2, 2});
  EXPECT_EQ(t.str(), "tensor([[1, 2.5],\n        [3, 4]], float32[2, 2] on cpu)");
  Tensor big = arange(100);
  EXPECT_EQ(big.str(), "tensor([0, 1, 2, ..., 97, 98, 99], int64[100] on cpu)");
  EXPECT_EQ(Tensor().str(), "tensor(undefined)");
}

TEST(Tensor, Allclose) {
  Tensor a = from_vector<double>({1, 2}, {2}, {.dtype = DType::Float64});
  Tensor b = from_vector<double>({1, 2 + 1e-9}, {2}, {.dtype = DType::Float64});
  Tensor nan = from_vector<double>({1, NAN}, {2}, {.dtype = DType::Float64});
  EXPECT_TRUE(allclose(a, b));
  EXPECT_FALSE(allclose(a, b, 0, 1e-12));
  EXPECT_FALSE(allclose(a, nan));
  EXPECT_THROW(allclose(a, zeros({3})), Error);
}

TEST(Tensor, Devices) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("cuda:1"), Device::cuda(1));
  EXPECT_EQ(Device::cuda(0).str(), "cuda:0");
  EXPECT_THROW(Device::parse("gpu"), Error);
  EXPECT_THROW(Device::parse("cuda:x"), Error);
}

TEST(Tensor, CudaAllocationFailsClearlyWithoutAGpu) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present; this checks the no-GPU message";
  try {
    zeros({2}, {.device = Device::cuda()});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_TRUE(m.find("cuda:0") != std::string::npos) << m;
  }
}

TEST(Tensor, CudaRoundTrip) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device visible: CPU/GPU copy not exercised";
  Tensor x = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor g = x.to(Device::cuda());
  EXPECT_TRUE(g.is_cuda());
  EXPECT_EQ(g.to_vector<float>(), x.to_vector<float>());
  Tensor t = transpose(g, 0, 1).contiguous();  // strided copy kernel on the GPU
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(g.to(DType::Float64).to_vector<double>(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  Tensor z = zeros({3}, {.device = Device::cuda()});
  fill_(z, 2.5);
  EXPECT_EQ(z.to_vector<float>(), (std::vector<float>{2.5f, 2.5f, 2.5f}));
}

TEST(Tensor, MisuseErrors) {
  EXPECT_THROW(from_vector<float>({1, 2, 3}, {2, 2}), Error);
  EXPECT_THROW(zeros({2}).item<float>(), Error);
  EXPECT_THROW(zeros({2}).data<double>(), Error);
  EXPECT_THROW(empty({-1}), Error);
  Tensor undefined;
  EXPECT_THROW(add(undefined, zeros({1})), Error);
  try {
    add(zeros({2}), zeros({2}, {.dtype = DType::Float64}));
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("float32[2]"), std::string::npos) << m;
    EXPECT_NE(m.find("float64[2]"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace ember
