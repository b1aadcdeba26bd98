// CUDA matrix products through cuBLAS (contract: kernels/linalg.h; reference: kernels/cpu/linalg.cpp).
// Tested against the CPU in tests/test_cuda_linalg.cpp (CudaLinalg.*, skipped without a GPU).
//
// cuBLAS is column-major; a row-major [M, N] matrix is the column-major [N, M] matrix of its
// transpose. So out = op(A) op(B) in row-major is out^T = op(B)^T op(A)^T in column-major: call
// cuBLAS with the operands swapped (B first), m = N, n = M, and the same transpose flags, whose
// leading dimensions are the row lengths of the stored matrices. One strided-batched call covers
// the batch (batch strides M*K, K*N, M*N: operands are contiguous).
//
// float32 is exact fp32 (CUBLAS_COMPUTE_32F on a handle in CUBLAS_DEFAULT_MATH) unless
// backend_settings().allow_tf32, which selects CUBLAS_COMPUTE_32F_FAST_TF32. float64 uses
// CUBLAS_COMPUTE_64F. Precision::BFloat16 (kernels/precision.h, docs/mixed_precision.md) rounds
// float32 A and B into bf16 copies (tensor/cuda/copy.cu, bit for bit the CPU's rounding) and runs
// cublasGemmStridedBatchedEx with CUDA_R_16BF A and B, CUDA_R_32F C and scale type, and
// CUBLAS_COMPUTE_32F (one of cuBLAS's documented GemmEx combinations): the products of bf16
// values are exact in float32 and are summed in float32, on tensor cores.
#include <climits>

#include "kernels/backend_settings.h"
#include "kernels/cuda/cublas_context.h"
#include "kernels/linalg.h"
#include "tensor/cuda/copy.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {

// A bf16 copy of a float32 operand: round to nearest even (tensor/cuda/copy.cu).
Tensor to_bf16(const Tensor& t) {
  Tensor b = empty(t.shape(), {DType::BFloat16, t.device()});
  ::ember::cuda::copy_tensor(b, t);
  return b;
}

}  // namespace

void gemm(const Tensor& out, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b,
          int64_t batch, int64_t M, int64_t N, int64_t K, Precision precision) {
  if (batch == 0 || M == 0 || N == 0) return;
  cudaStream_t stream = ::ember::cuda::compute_stream();
  if (K == 0) {  // an empty sum; cuBLAS would reject lda = 0. All-zero bytes are +0.0.
    EMBER_CUDA_CHECK(cudaMemsetAsync(out.raw_data(), 0, out.numel() * dtype_size(out.dtype()),
                                     stream));
    return;
  }
  EMBER_CHECK(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && batch <= INT_MAX, "gemm: sizes ",
              "batch ", batch, ", M ", M, ", N ", N, ", K ", K, " exceed cuBLAS's int range");
  cublasHandle_t handle = ::ember::cuda::cublas_handle(out.device().index);
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int lda = static_cast<int>(trans_a ? M : K);  // row length of A as stored
  const int ldb = static_cast<int>(trans_b ? K : N);  // row length of B as stored
  const long long stride_a = M * K, stride_b = K * N, stride_c = M * N;
  if (out.dtype() == DType::Float32 && precision == Precision::BFloat16) {
    const float alpha = 1.0f, beta = 0.0f;
    const Tensor ab = to_bf16(a), bb = to_bf16(b);
    EMBER_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        handle, op_b, op_a, static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha,
        bb.raw_data(), CUDA_R_16BF, ldb, stride_b, ab.raw_data(), CUDA_R_16BF, lda, stride_a,
        &beta, out.raw_data(), CUDA_R_32F, static_cast<int>(N), stride_c, static_cast<int>(batch),
        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  } else if (out.dtype() == DType::Float32) {
    const float alpha = 1.0f, beta = 0.0f;
    const cublasComputeType_t compute =
        backend_settings().allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    EMBER_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        handle, op_b, op_a, static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha,
        b.raw_data(), CUDA_R_32F, ldb, stride_b, a.raw_data(), CUDA_R_32F, lda, stride_a, &beta,
        out.raw_data(), CUDA_R_32F, static_cast<int>(N), stride_c, static_cast<int>(batch),
        compute, CUBLAS_GEMM_DEFAULT));
  } else if (out.dtype() == DType::Float64) {
    const double alpha = 1.0, beta = 0.0;
    EMBER_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        handle, op_b, op_a, static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha,
        b.raw_data(), CUDA_R_64F, ldb, stride_b, a.raw_data(), CUDA_R_64F, lda, stride_a, &beta,
        out.raw_data(), CUDA_R_64F, static_cast<int>(N), stride_c, static_cast<int>(batch),
        CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT));
  } else {
    EMBER_FAIL("gemm: expected a float32 or float64 tensor, got ", out.describe());
  }
  // In EMBER_CUDA_SYNC mode, a fault inside cuBLAS's kernels is reported here, naming the call.
  EMBER_CUDA_CHECK_LAUNCH("cublasGemmStridedBatchedEx");
}

}  // namespace ember::kernels::cuda
