// Device dispatch for resampling kernels (contract: kernels/pool.h).
#include "kernels/pool.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void upsample_nearest(const Tensor& out, const Tensor& x, int64_t factor_h, int64_t factor_w) {
  EMBER_DISPATCH_DEVICE(x, "upsample_nearest", upsample_nearest, out, x, factor_h, factor_w);
}

void downsample_sum(const Tensor& out, const Tensor& x, int64_t factor_h, int64_t factor_w) {
  EMBER_DISPATCH_DEVICE(x, "downsample_sum", downsample_sum, out, x, factor_h, factor_w);
}

}  // namespace ember::kernels
