// CPU matrix products through the CBLAS interface (OpenBLAS on Debian), threaded by OpenMP
// (kernels/cpu/blas.h). Precision::BFloat16 (kernels/precision.h) is the definition: the float32
// product of a and b rounded to bfloat16 (kernels/cpu/bf16_round.h), the result in float32.
#include "kernels/cpu/bf16_round.h"
#include "kernels/cpu/blas.h"

#include "kernels/linalg.h"

namespace ember::kernels::cpu {

void gemm(const Tensor& out, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b,
          int64_t batch, int64_t M, int64_t N, int64_t K, Precision precision) {
  if (precision == Precision::BFloat16 && out.dtype() == DType::Float32 && M > 0 && N > 0 &&
      K > 0) {
    cpu::gemm(out, rounded_to_bf16(a), rounded_to_bf16(b), trans_a, trans_b, batch, M, N, K);
    return;
  }
  const int64_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
  if (M == 0 || N == 0) return;
  if (K == 0) { fill_(out, 0.0); return; }
  dispatch_float(out.dtype(), "gemm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pa = static_cast<const T*>(a.raw_data());  // [batch, M, K] or [batch, K, M]
    const T* pb = static_cast<const T*>(b.raw_data());  // [batch, K, N] or [batch, N, K]
    T* po = static_cast<T*>(out.raw_data());            // [batch, M, N]
    for (int64_t i = 0; i < batch; ++i) {
      gemm_rowmajor(trans_a, trans_b, M, N, K, T(1), pa + i * M * K, lda, pb + i * K * N, ldb, T(0),
                    po + i * M * N, N);
    }
  });
}

}  // namespace ember::kernels::cpu
