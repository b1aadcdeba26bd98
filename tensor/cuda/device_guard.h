// DeviceGuard: makes a GPU the current device for a scope and restores the caller's after
// (defined in tensor/cuda/cuda_runtime.cpp). Free of CUDA headers, so the device dispatch of
// kernels/ (kernels/dispatch.h, EMBER_ON_DEVICE_OF) can use it from plain C++ files.
#pragma once

namespace ember::cuda {

// Code that must run on a given device (a kernel on its tensors' GPU, a raw allocation, the
// creation of a stream or a library handle) leaves the caller's current device untouched. Does
// nothing when the device is already current. Throws ember::Error if it cannot be made current.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;  // -1: nothing to restore
};

}  // namespace ember::cuda
