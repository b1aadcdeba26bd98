// More than one GPU in a process (tensor/cuda/device_guard.h, cuda_context.h): every device has
// its own compute stream, and allocations, kernels and copies on one device leave the caller's
// current device as it was. The single-GPU cases run on any GPU; the rest skip with the reason
// on a machine with fewer than two.
#include <gtest/gtest.h>

#include <vector>

#include "device_compare.h"
#include "ops/ops.h"
#include "tensor/tensor.h"

#ifdef EMBER_WITH_CUDA
#include <cuda_runtime.h>

#include "tensor/cuda/cuda_context.h"
#endif

namespace ember {
namespace {

#ifdef EMBER_WITH_CUDA
int current_device() {
  int device = -1;
  EXPECT_EQ(cudaGetDevice(&device), cudaSuccess);
  return device;
}

#define EMBER_REQUIRE_TWO_GPUS()                                                             \
  do {                                                                                       \
    EMBER_REQUIRE_CUDA();                                                                    \
    if (cuda_device_count() < 2)                                                             \
      GTEST_SKIP() << "one GPU visible: the cases with two devices are not exercised";        \
  } while (0)

TEST(CudaDevices, DeviceGuardRestoresTheCallersDevice) {
  EMBER_REQUIRE_CUDA();
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  {
    cuda::DeviceGuard same(0);  // already current: nothing to switch
    EXPECT_EQ(current_device(), 0);
  }
  EXPECT_EQ(current_device(), 0);
  EXPECT_EQ(cuda::compute_stream(), cuda::compute_stream(0));
}

TEST(CudaDevices, EachDeviceHasItsOwnStream) {
  EMBER_REQUIRE_TWO_GPUS();
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  cudaStream_t s0 = cuda::compute_stream(0), s1 = cuda::compute_stream(1);
  EXPECT_NE(s0, s1);
  EXPECT_EQ(current_device(), 0);  // creating device 1's stream did not switch the caller
  {
    cuda::DeviceGuard on_one(1);
    EXPECT_EQ(current_device(), 1);
    EXPECT_EQ(cuda::compute_stream(), s1);
  }
  EXPECT_EQ(current_device(), 0);
  EXPECT_EQ(cuda::compute_stream(), s0);
}

TEST(CudaDevices, WorkOnTheSecondDeviceLeavesTheCurrentDeviceAlone) {
  EMBER_REQUIRE_TWO_GPUS();
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  const Device one = Device::cuda(1);
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {10, 20, 30, 40, 50, 60};
  // An allocation, a copy in, a kernel, a fill, a copy between GPUs and a copy out.
  Tensor x = from_vector(a, {2, 3}).to(one);
  EXPECT_EQ(current_device(), 0);
  Tensor y = add(x, from_vector(b, {2, 3}).to(one));
  EXPECT_EQ(current_device(), 0);
  Tensor z = zeros({2, 3}, {.device = one});
  EXPECT_EQ(current_device(), 0);
  Tensor on_zero = y.to(Device::cuda(0));
  EXPECT_EQ(current_device(), 0);
  EXPECT_EQ(y.to(Device::cpu()).to_vector<float>(), (std::vector<float>{11, 22, 33, 44, 55, 66}));
  EXPECT_EQ(on_zero.to(Device::cpu()).to_vector<float>(), y.to(Device::cpu()).to_vector<float>());
  EXPECT_EQ(z.to(Device::cpu()).to_vector<float>(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(current_device(), 0);
  // Freeing device 1's blocks (the tensors going out of scope) leaves device 0 current too.
  x = y = z = Tensor();
  EXPECT_EQ(current_device(), 0);
}
#else
TEST(CudaDevices, NeedsTheCudaBuild) { GTEST_SKIP() << "CPU-only build: no devices to switch"; }
#endif

}  // namespace
}  // namespace ember
