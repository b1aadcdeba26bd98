// The fused input preprocessing op (ops/preprocess.h): checks, the kernel call, and the backward
// next to it. d out / d x = scale * factor[c] with factor = 1 / max(sqrt(variance), eps), built
// as the separate ops' backwards would build it (grad * factor, then * scale), so a gradient
// through the fused op equals the one through Rescaling and Normalization.
#include "ops/preprocess.h"

#include <limits>

#include "autograd/function.h"
#include "kernels/preprocess.h"
#include "ops/elementwise.h"

namespace ember {

namespace {

void check_statistics(const Tensor& x, const RescaleNormalize& p, DType out_dtype) {
  EMBER_CHECK(p.mean.defined() == p.variance.defined(),
              "rescale_normalize: mean and variance come together, got mean ",
              p.mean.defined() ? p.mean.describe() : "undefined", " and variance ",
              p.variance.defined() ? p.variance.describe() : "undefined");
  if (!p.mean.defined()) return;
  const int64_t channels = x.dim() >= 1 ? x.size(-1) : 0;
  for (const Tensor* s : {&p.mean, &p.variance}) {
    EMBER_CHECK(s->dim() == 1 && s->size(0) == channels,
                "rescale_normalize: expected statistics of ", channels,
                " channels (the last axis of ", x.describe(), "), got ", s->describe());
    EMBER_CHECK(s->dtype() == out_dtype && s->device() == x.device(),
                "rescale_normalize: statistics ", s->describe(), " must be ",
                dtype_name(out_dtype), " on ", x.device().str(), " like the output");
    EMBER_CHECK(!s->requires_grad(),
                "rescale_normalize: the statistics are not differentiable; got ", s->describe(),
                " requiring grad");
  }
}

}  // namespace

Tensor rescale_normalize(const Tensor& x, const RescaleNormalize& p, DType float_dtype) {
  check_defined(x, "rescale_normalize", "x");
  EMBER_CHECK(x.dtype() == DType::UInt8 || is_floating(x.dtype()),
              "rescale_normalize: expected uint8 or float pixels, got ", x.describe());
  EMBER_CHECK(x.dim() >= 1, "rescale_normalize: expected channels on a last axis, got ",
              x.describe());
  const DType out_dtype = x.dtype() == DType::UInt8 ? float_dtype : x.dtype();
  EMBER_CHECK(is_floating(out_dtype), "rescale_normalize: the output must be float, got ",
              dtype_name(out_dtype));
  check_statistics(x, p, out_dtype);
  const Tensor input = x.contiguous();
  const Tensor mean = p.mean.defined() ? p.mean.contiguous() : Tensor();
  const Tensor variance = p.variance.defined() ? p.variance.contiguous() : Tensor();
  Tensor out = empty(x.shape(), {out_dtype, x.device()});
  kernels::rescale_normalize(out, input, p.scale, p.offset, mean, variance, p.eps);
  record("rescale_normalize", {x}, out,
         [scale = p.scale, variance, eps = p.eps](const BackwardContext& ctx) {
           Tensor grad = ctx.grad();
           if (variance.defined())
             grad = grad * reciprocal(clamp(sqrt(variance), eps,
                                            std::numeric_limits<double>::infinity()));
           return TensorList{grad * scale};
         });
  return out;
}

}  // namespace ember
