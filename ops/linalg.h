// Matrix products through the BLAS (CPU) / cuBLAS (GPU). Exact fp32 math, or bf16 operands
// with float32 sums inside a bf16 precision scope (ops/autocast.h).
#pragma once
#include "tensor/tensor.h"

namespace ember {

// [M, K] x [K, N] -> [M, N], or batched [B, M, K] x [B, K, N] -> [B, M, N].
Tensor matmul(const Tensor& a, const Tensor& b);
// x [..., in] times weight [out, in] transposed, plus bias [out] if defined -> [..., out].
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace ember
