// Device dispatch for resampling kernels (contract: kernels/pool.h).
#include "kernels/pool.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void upsample_nearest(const Tensor& out, const Tensor& x, int64_t factor_h, int64_t factor_w) {
  if (x.is_cuda()) {
#ifdef EMBER_WITH_CUDA
    EMBER_ON_DEVICE_OF(x);
    cuda::upsample_nearest(out, x, factor_h, factor_w);
    return;
#else
    no_cuda_kernel("upsample_nearest");
#endif
  }
  cpu::upsample_nearest(out, x, factor_h, factor_w);
}

void downsample_sum(const Tensor& out, const Tensor& x, int64_t factor_h, int64_t factor_w) {
  if (x.is_cuda()) {
#ifdef EMBER_WITH_CUDA
    EMBER_ON_DEVICE_OF(x);
    cuda::downsample_sum(out, x, factor_h, factor_w);
    return;
#else
    no_cuda_kernel("downsample_sum");
#endif
  }
  cpu::downsample_sum(out, x, factor_h, factor_w);
}

}  // namespace ember::kernels
