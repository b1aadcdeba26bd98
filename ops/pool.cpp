// Pooling and resampling ops on NHWC activations, each forward next to its backward.
// Global pools are reductions over H and W (their backward is a broadcast, via ops/reduce.cpp).
// upsample_nearest and downsample_sum are adjoints of each other, so each one's backward is the
// other and double backward comes for free. Matches torch's adaptive_avg_pool2d(x, 1) and
// interpolate(mode="nearest") with integer factors. Tested in tests/test_pool.cpp.
#include "ops/pool.h"

#include "autograd/function.h"
#include "kernels/pool.h"
#include "ops/reduce.h"

namespace ember {

namespace {

void check_nhwc(const Tensor& x, const char* op) {
  check_defined(x, op, "x");
  EMBER_CHECK(x.dim() == 4, op, ": expected an NHWC tensor [N, H, W, C], got ", x.describe());
  EMBER_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, op,
              ": expected a float32 or float64 tensor, got ", x.describe());
}

void check_factors(int64_t factor_h, int64_t factor_w, const char* op) {
  EMBER_CHECK(factor_h >= 1 && factor_w >= 1, op, ": factors must be >= 1, got ", factor_h,
              " x ", factor_w);
}

}  // namespace

Tensor global_avg_pool(const Tensor& x) {
  check_nhwc(x, "global_avg_pool");
  EMBER_CHECK(x.shape()[1] * x.shape()[2] > 0, "global_avg_pool: empty spatial extent in ",
              x.describe());
  return mean(x, {1, 2});
}

Tensor global_sum_pool(const Tensor& x) {
  check_nhwc(x, "global_sum_pool");
  return sum(x, {1, 2});
}

Tensor upsample_nearest(const Tensor& x, int64_t factor_h, int64_t factor_w) {
  check_nhwc(x, "upsample_nearest");
  check_factors(factor_h, factor_w, "upsample_nearest");
  const Shape& s = x.shape();
  Tensor out = empty({s[0], s[1] * factor_h, s[2] * factor_w, s[3]}, {x.dtype(), x.device()});
  kernels::upsample_nearest(out, x, factor_h, factor_w);
  record("upsample_nearest", {x}, out, [factor_h, factor_w](const BackwardContext& ctx) {
    return TensorList{downsample_sum(ctx.grad(), factor_h, factor_w)};
  });
  return out;
}

Tensor downsample_sum(const Tensor& x, int64_t factor_h, int64_t factor_w) {
  check_nhwc(x, "downsample_sum");
  check_factors(factor_h, factor_w, "downsample_sum");
  const Shape& s = x.shape();
  EMBER_CHECK(s[1] % factor_h == 0 && s[2] % factor_w == 0, "downsample_sum: H = ", s[1],
              " and W = ", s[2], " of ", x.describe(), " must be multiples of the factors ",
              factor_h, " x ", factor_w);
  Tensor out = empty({s[0], s[1] / factor_h, s[2] / factor_w, s[3]}, {x.dtype(), x.device()});
  kernels::downsample_sum(out, x, factor_h, factor_w);
  record("downsample_sum", {x}, out, [factor_h, factor_w](const BackwardContext& ctx) {
    return TensorList{upsample_nearest(ctx.grad(), factor_h, factor_w)};
  });
  return out;
}

}  // namespace ember
