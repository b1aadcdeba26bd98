// cuDNN glue: checked calls (EMBER_CUDNN_CHECK) and one handle per device, bound to
// ember::cuda::compute_stream(). Only the files that call cuDNN include this header. Used by
// kernels/cuda/conv.cpp and tested through tests/test_cuda_conv.cpp.
#pragma once
#include <cudnn.h>

#include "tensor/error.h"

namespace ember::cuda {

// The message carries cudnnGetErrorString and, when cuDNN left one, cudnnGetLastErrorString's
// detail (which names the bad descriptor field, for instance).
[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file,
                                    int line);

// The handle of `device`, created on first use with its stream set to compute_stream().
cudnnHandle_t cudnn_handle(int device);

}  // namespace ember::cuda

#define EMBER_CUDNN_CHECK(call)                                                     \
  do {                                                                              \
    cudnnStatus_t ember_cudnn_status_ = (call);                                     \
    if (ember_cudnn_status_ != CUDNN_STATUS_SUCCESS)                                \
      ::ember::cuda::throw_cudnn_error(ember_cudnn_status_, #call, __FILE__, __LINE__); \
  } while (0)
