// Emulator stand-in for kernels/cuda/cublas_context.h (tools/emulate_cuda/): the part of cuBLAS
// that kernels/cuda/linalg.cpp calls, cublasGemmStridedBatchedEx, carried out by CBLAS's
// column-major GEMM (cuBLAS's convention: column-major storage, m x n result, leading dimensions
// counted in elements), one call per batch entry. Like cuBLAS it refuses leading dimensions
// shorter than the stored rows, mixed data types and a compute type that does not fit the data
// type (CUBLAS_STATUS_INVALID_VALUE / NOT_SUPPORTED, thrown by EMBER_CUBLAS_CHECK as the real
// macro does), so linalg.cpp's row-major-to-column-major argument mapping is what gets checked.
// TF32 is not emulated: the compute type of the last call is recorded for the checks instead.
// The one mixed combination ember uses, bf16 A and B with float32 C and CUBLAS_COMPUTE_32F (a
// documented cublasGemmEx combination), is run by widening A and B to float (exact) first.
#pragma once
#include <cblas.h>

#include <string>
#include <vector>

#include "tensor/dtype.h"

#include "tensor/error.h"

struct EmuCublasContext;
using cublasHandle_t = EmuCublasContext*;
enum cublasStatus_t {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_NOT_SUPPORTED = 15
};
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum cublasComputeType_t {
  CUBLAS_COMPUTE_32F = 68,
  CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
  CUBLAS_COMPUTE_64F = 70
};
enum cudaDataType { CUDA_R_32F = 0, CUDA_R_64F = 1, CUDA_R_16BF = 14 };
enum cublasGemmAlgo_t { CUBLAS_GEMM_DEFAULT = -1 };

namespace emu {
// The compute type and batch count of the last cublasGemmStridedBatchedEx call (checks read it).
inline cublasComputeType_t last_gemm_compute = CUBLAS_COMPUTE_64F;
inline int gemm_calls = 0;
}  // namespace emu

namespace ember::cuda {

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* call,
                                            const char* file, int line) {
  EMBER_FAIL("cuBLAS error ", static_cast<int>(status), " in ", call, " at ", file, ":", line);
}

inline cublasHandle_t cublas_handle(int) { return nullptr; }

}  // namespace ember::cuda

#define EMBER_CUBLAS_CHECK(call)                                                          \
  do {                                                                                    \
    cublasStatus_t ember_cublas_status_ = (call);                                         \
    if (ember_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                    \
      ::ember::cuda::throw_cublas_error(ember_cublas_status_, #call, __FILE__, __LINE__); \
  } while (0)

// C[i] = alpha op(A[i]) op(B[i]) + beta C[i] (column-major), A[i] = A + i * strideA, ...
inline cublasStatus_t cublasGemmStridedBatchedEx(
    cublasHandle_t, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
    const void* alpha, const void* A, cudaDataType Atype, int lda, long long strideA,
    const void* B, cudaDataType Btype, int ldb, long long strideB, const void* beta, void* C,
    cudaDataType Ctype, int ldc, long long strideC, int batchCount,
    cublasComputeType_t computeType, cublasGemmAlgo_t) {
  const int a_rows = transa == CUBLAS_OP_N ? m : k, b_rows = transb == CUBLAS_OP_N ? k : n;
  if (m < 0 || n < 0 || k < 0 || batchCount < 0 || lda < (a_rows > 1 ? a_rows : 1) ||
      ldb < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (Atype == CUDA_R_16BF && Btype == CUDA_R_16BF && Ctype == CUDA_R_32F) {
    if (computeType != CUBLAS_COMPUTE_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
    // Widen every batch entry's stored extent (its columns times the leading dimension).
    const long long a_len = strideA * (batchCount - 1) + static_cast<long long>(lda) *
                                                             (transa == CUBLAS_OP_N ? k : m);
    const long long b_len = strideB * (batchCount - 1) + static_cast<long long>(ldb) *
                                                             (transb == CUBLAS_OP_N ? n : k);
    std::vector<float> a32(batchCount > 0 ? a_len : 0), b32(batchCount > 0 ? b_len : 0);
    const auto* a16 = static_cast<const ember::bfloat16*>(A);
    const auto* b16 = static_cast<const ember::bfloat16*>(B);
    for (size_t i = 0; i < a32.size(); ++i) a32[i] = static_cast<float>(a16[i]);
    for (size_t i = 0; i < b32.size(); ++i) b32[i] = static_cast<float>(b16[i]);
    return cublasGemmStridedBatchedEx(nullptr, transa, transb, m, n, k, alpha, a32.data(),
                                      CUDA_R_32F, lda, strideA, b32.data(), CUDA_R_32F, ldb,
                                      strideB, beta, C, CUDA_R_32F, ldc, strideC, batchCount,
                                      computeType, CUBLAS_GEMM_DEFAULT);
  }
  if (Atype != Btype || Atype != Ctype) return CUBLAS_STATUS_NOT_SUPPORTED;
  const bool f32 = Atype == CUDA_R_32F;
  if (f32 != (computeType == CUBLAS_COMPUTE_32F || computeType == CUBLAS_COMPUTE_32F_FAST_TF32) ||
      (!f32 && computeType != CUBLAS_COMPUTE_64F))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  emu::last_gemm_compute = computeType;
  ++emu::gemm_calls;
  const CBLAS_TRANSPOSE ta = transa == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
  const CBLAS_TRANSPOSE tb = transb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
  for (int i = 0; i < batchCount; ++i) {
    if (f32)
      cblas_sgemm(CblasColMajor, ta, tb, m, n, k, *static_cast<const float*>(alpha),
                  static_cast<const float*>(A) + i * strideA, lda,
                  static_cast<const float*>(B) + i * strideB, ldb,
                  *static_cast<const float*>(beta), static_cast<float*>(C) + i * strideC, ldc);
    else
      cblas_dgemm(CblasColMajor, ta, tb, m, n, k, *static_cast<const double*>(alpha),
                  static_cast<const double*>(A) + i * strideA, lda,
                  static_cast<const double*>(B) + i * strideB, ldb,
                  *static_cast<const double*>(beta), static_cast<double*>(C) + i * strideC, ldc);
  }
  return CUBLAS_STATUS_SUCCESS;
}
