// Device dispatch for matrix products.
#include "kernels/linalg.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void gemm(const Tensor& out, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b,
          int64_t batch, int64_t M, int64_t N, int64_t K) {
  if (out.is_cuda()) {
#ifdef EMBER_WITH_CUDA
    EMBER_ON_DEVICE_OF(out);
    cuda::gemm(out, a, b, trans_a, trans_b, batch, M, N, K);
    return;
#else
    no_cuda_kernel("gemm");
#endif
  }
  cpu::gemm(out, a, b, trans_a, trans_b, batch, M, N, K);
}

}  // namespace ember::kernels
