// The one place per op family where the device decides which implementation runs.
// EMBER_DISPATCH_DEVICE(t, name, call) runs cpu::call for CPU tensors and cuda::call for CUDA
// tensors; in a CPU-only build, or for an op whose CUDA kernel is not written yet, the CUDA side
// is a clear error naming the op.
#pragma once
#include "tensor/error.h"
#include "tensor/tensor.h"

#ifdef EMBER_WITH_CUDA
#include "tensor/cuda/device_guard.h"
// Makes t's GPU the current device for the rest of the scope (the caller's is restored after),
// so a kernel runs on its tensors' device and is queued on that device's compute stream.
#define EMBER_ON_DEVICE_OF(t) const ::ember::cuda::DeviceGuard ember_device_guard((t).device().index)
#endif

namespace ember::kernels {

[[noreturn]] inline void no_cuda_kernel(const char* op) {
#ifdef EMBER_WITH_CUDA
  EMBER_FAIL(op, ": no CUDA kernel for this op yet; move the tensors to the CPU");
#else
  EMBER_FAIL(op, ": this build has no CUDA backend; move the tensors to the CPU");
#endif
}

}  // namespace ember::kernels
