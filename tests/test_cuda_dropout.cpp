// dropout and drop_path on the GPU draw the same Philox masks as on the CPU (ops/random.cpp over
// kernels/cuda/random.cu): one generator seed gives identical outputs and gradients on both
// devices, float32 and float64, compared exactly. Skipped without a GPU.
#include <gtest/gtest.h>

#include "ops/ops.h"
#include "tests/device_compare.h"

namespace ember {
namespace {

using testing::random_tensor;

const Device kGpu = Device::cuda(0);

// Runs op(x) with a fresh RandomGenerator(seed) on each device, twice in a row (so the second draw
// starts from a moved counter), and expects identical outputs, gradients and generator states.
template <typename Op>
void expect_identical_on_both_devices(const Shape& shape, DType dtype, uint64_t seed, Op op) {
  const Tensor x_cpu = random_tensor(shape, seed + 1, dtype, -2.0, 2.0, true);
  Tensor x_gpu = convert(x_cpu.detach(), dtype, kGpu);
  x_gpu.set_requires_grad(true);
  RandomGenerator cpu_gen(seed), gpu_gen(seed);
  for (int draw = 0; draw < 2; ++draw) {
    const Tensor y_cpu = op(x_cpu, cpu_gen);
    const Tensor y_gpu = op(x_gpu, gpu_gen);
    ASSERT_TRUE(y_gpu.is_cuda());
    const std::vector<double> values = y_cpu.to_vector<double>();
    EXPECT_EQ(y_gpu.to_vector<double>(), values) << dtype_name(dtype) << " draw " << draw;
    // Some elements kept and some dropped, so the comparison is not vacuous.
    size_t zeros = 0;
    for (double v : values) zeros += v == 0.0;
    EXPECT_GT(zeros, 0u);
    EXPECT_LT(zeros, values.size());
    EXPECT_EQ(gpu_gen.offset(), cpu_gen.offset());
  }
  // grad = upstream * mask of a fresh generator's first draw (the draws above had no backward).
  const Tensor upstream = random_tensor(shape, seed + 2, dtype);
  RandomGenerator cpu_again(seed), gpu_again(seed);
  op(x_cpu, cpu_again).backward(upstream);
  op(x_gpu, gpu_again).backward(convert(upstream, dtype, kGpu));
  EXPECT_EQ(x_gpu.grad().to_vector<double>(), x_cpu.grad().to_vector<double>()) << dtype_name(dtype);
}

TEST(CudaDropout, SameSeedGivesIdenticalMasks) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    expect_identical_on_both_devices({37, 5, 11}, dtype, 101, [](const Tensor& x, RandomGenerator& g) {
      return dropout(x, 0.3, true, g);
    });
  }
}

TEST(CudaDropout, DropPathSameSeedGivesIdenticalMasks) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    // 64 samples at p = 0.5: some samples kept, some dropped.
    expect_identical_on_both_devices({64, 3, 4, 8}, dtype, 202, [](const Tensor& x, RandomGenerator& g) {
      return drop_path(x, 0.5, true, g);
    });
  }
}

}  // namespace
}  // namespace ember
