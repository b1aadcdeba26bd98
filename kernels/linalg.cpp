// Device dispatch for matrix products.
#include "kernels/linalg.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void gemm(const Tensor& out, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b,
          int64_t batch, int64_t M, int64_t N, int64_t K, Precision precision) {
  EMBER_DISPATCH_DEVICE(out, "gemm", gemm, out, a, b, trans_a, trans_b, batch, M, N, K, precision);
}

}  // namespace ember::kernels
