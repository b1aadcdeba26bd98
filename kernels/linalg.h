// Contract for matrix products. Row-major operands; `out` preallocated and contiguous.
// gemm: out[b] = op(a[b]) x op(b[b]) for each of `batch` matrices, op = transpose when asked.
// a: [batch, M, K] (or [batch, K, M] when trans_a), b: [batch, K, N] (or [batch, N, K] when
// trans_b), out: [batch, M, N]. Inputs must be contiguous. float32/float64; exact fp32 math
// (the CUDA version uses TF32 only when kernels::backend_settings().allow_tf32). With
// `precision` BFloat16 (kernels/precision.h; float32 only) a and b are rounded to bfloat16 and
// the products summed in float32, the result staying float32.
#pragma once
#include "kernels/precision.h"
#include "tensor/tensor.h"

namespace ember::kernels {

void gemm(const Tensor& out, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b,
          int64_t batch, int64_t M, int64_t N, int64_t K,
          Precision precision = Precision::Float32);

namespace cpu {
void gemm(const Tensor& out, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b,
          int64_t batch, int64_t M, int64_t N, int64_t K,
          Precision precision = Precision::Float32);
}  // namespace cpu

#ifdef EMBER_WITH_CUDA
namespace cuda {  // kernels/cuda/linalg.cpp (cuBLAS)
void gemm(const Tensor& out, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b,
          int64_t batch, int64_t M, int64_t N, int64_t K,
          Precision precision = Precision::Float32);
}  // namespace cuda
#endif

}  // namespace ember::kernels
