// cuBLAS glue: checked calls (EMBER_CUBLAS_CHECK) and one handle per device, bound to
// ember::cuda::compute_stream(). Only the files that call cuBLAS include this header (the
// framework's other headers never pull in cublas_v2.h). Used by kernels/cuda/linalg.cpp and
// tested through tests/test_cuda_linalg.cpp.
#pragma once
#include <cublas_v2.h>

#include "tensor/error.h"

namespace ember::cuda {

[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* call, const char* file,
                                     int line);

// The handle of `device`, created on first use with its stream set to compute_stream() and its
// math mode set to CUBLAS_DEFAULT_MATH (no TF32 unless a call asks for it by compute type), and
// a 32 MiB workspace from the device allocator.
cublasHandle_t cublas_handle(int device);

}  // namespace ember::cuda

#define EMBER_CUBLAS_CHECK(call)                                                    \
  do {                                                                              \
    cublasStatus_t ember_cublas_status_ = (call);                                   \
    if (ember_cublas_status_ != CUBLAS_STATUS_SUCCESS)                              \
      ::ember::cuda::throw_cublas_error(ember_cublas_status_, #call, __FILE__, __LINE__); \
  } while (0)
