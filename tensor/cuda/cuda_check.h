// Checked CUDA runtime calls. A failure throws ember::Error with the call text, file:line and
// CUDA's own message. EMBER_CUDA_SYNC=1 in the environment makes every checked kernel launch
// synchronise, so an asynchronous fault is blamed on the kernel that caused it, and a deferred
// device error (tensor/cuda/device_errors.h: a bad index found by a kernel) is thrown right there.
#pragma once
#include <cuda_runtime.h>

#include "tensor/cuda/device_errors.h"
#include "tensor/dispatch_count.h"
#include "tensor/error.h"

namespace ember::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line);
bool sync_mode();  // EMBER_CUDA_SYNC is set to a non-zero value

}  // namespace ember::cuda

#define EMBER_CUDA_CHECK(call)                                                        \
  do {                                                                                \
    cudaError_t ember_status_ = (call);                                               \
    if (ember_status_ != cudaSuccess)                                                 \
      ::ember::cuda::throw_cuda_error(ember_status_, #call, __FILE__, __LINE__);      \
  } while (0)

// After a <<<...>>> launch (or a cuBLAS/cuDNN call): counts it (tensor/dispatch_count.h), checks
// the launch, and in sync mode waits and checks the kernel, including the error record it may
// have set.
#define EMBER_CUDA_CHECK_LAUNCH(kernel_name)                                            \
  do {                                                                                  \
    ::ember::count_kernel_launch();                                                     \
    EMBER_CUDA_CHECK(cudaGetLastError());                                               \
    if (::ember::cuda::sync_mode()) {                                                   \
      cudaError_t ember_status_ = cudaDeviceSynchronize();                              \
      if (ember_status_ != cudaSuccess)                                                 \
        ::ember::cuda::throw_cuda_error(ember_status_, kernel_name, __FILE__, __LINE__); \
      ::ember::cuda::check_device_errors(kernel_name);                                  \
    }                                                                                   \
  } while (0)
