// Normalisation ops: batch_norm and layer_norm, each forward kernel call next to its backward.
// Matches torch.nn.functional.batch_norm / layer_norm (biased variance in the normalisation);
// running statistics follow Keras: running = momentum * running + (1 - momentum) * batch.
// The backward formulas are written out in kernels/norm.h. Tested in tests/test_norm.cpp.
//
// - batch_norm, training: one fused forward kernel (one-pass statistics, normalisation, the
//   optional swish, running-statistics update) and one fused backward kernel (dx, dweight, dbias
//   through swish and the normalisation), recorded with DoubleBackward::No, so differentiating
//   through it again is a clear error. Derivation: docs/batch_norm_swish.md.
// - batch_norm, inference: the affine map (x - rm) * (w / sqrt(rv + eps)) + b; its backward is
//   built from differentiable ops, so it supports double backward. With swish: silu of it, one
//   fused kernel when no gradient is wanted, else the two ops (so double backward still works).
// - layer_norm: the fused backward kernel when no graph is being recorded, else the composite
//   formula recomputed from x with differentiable ops (double backward works).
#include "ops/norm.h"

#include <numeric>
#include <vector>

#include "autograd/function.h"
#include "kernels/norm.h"
#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"

namespace ember {

namespace {

// t's values as a contiguous tensor (t itself when it already is): kernels read dense buffers.
// The copy carries no history; callers record against the original tensor.
Tensor dense(const Tensor& t) {
  if (!t.defined() || t.is_contiguous()) return t;
  return convert(t, t.dtype(), t.device());
}

void check_float(const Tensor& x, const char* op) {
  EMBER_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, op,
              ": expected a float32 or float64 tensor, got ", x.describe());
}

// An optional parameter must match x's dtype and device and have the given shape.
void check_param(const Tensor& t, const Tensor& x, const Shape& shape, const char* op,
                 const char* name) {
  if (!t.defined()) return;
  EMBER_CHECK(t.shape() == shape, op, ": ", name, " must have shape ", shape_str(shape),
              " to match x ", x.describe(), ", got ", t.describe());
  EMBER_CHECK(t.dtype() == x.dtype(), op, ": ", name, " ", t.describe(),
              " has a different dtype from x ", x.describe());
  EMBER_CHECK(t.device() == x.device(), op, ": ", name, " ", t.describe(),
              " is on a different device from x ", x.describe());
}

// Every axis but the last (the channel axis of an NHWC tensor).
std::vector<int64_t> non_channel_axes(const Tensor& x) {
  std::vector<int64_t> axes(x.dim() - 1);
  std::iota(axes.begin(), axes.end(), 0);
  return axes;
}

kernels::NormActivation kernel_activation(BatchNormActivation activation) {
  return activation == BatchNormActivation::Swish ? kernels::NormActivation::Swish
                                                  : kernels::NormActivation::Identity;
}

Tensor batch_norm_training(const Tensor& x, const Tensor& weight, const Tensor& bias,
                           const Tensor& running_mean, const Tensor& running_var,
                           const BatchNormOptions& options) {
  const int64_t C = x.shape().back(), count = x.numel() / C;
  EMBER_CHECK(!(running_var.defined() && options.unbiased_running_var && count < 2),
              "batch_norm: the unbiased running variance needs more than one value per channel, "
              "but x is ", x.describe());
  const Tensor xc = dense(x);
  const TensorOptions like_x{x.dtype(), x.device()};
  Tensor y = empty(x.shape(), like_x);
  Tensor mean = empty({C}, like_x), invstd = empty({C}, like_x);
  const kernels::NormActivation act = kernel_activation(options.activation);
  kernels::batch_norm_act_forward_training(
      y, mean, invstd, xc, weight, bias,
      {running_mean, running_var, options.momentum, options.unbiased_running_var}, options.eps,
      act);
  if (running_mean.defined()) {
    running_mean.bump_version();
    running_var.bump_version();
  }
  // x, mean and invstd give xhat for every gradient. Without an activation the weight only
  // scales dx; with swish, backward recomputes z = xhat * weight + bias for every gradient.
  const bool swish = act == kernels::NormActivation::Swish;
  const char* name = swish ? "batch_norm (swish)" : "batch_norm";
  record(name, {x, weight, bias}, y,
         [sx = save(xc), sw = save(swish || x.requires_grad() ? weight : Tensor()),
          sb = save(swish ? bias : Tensor()), sm = save(mean), si = save(invstd), C, act,
          name](const BackwardContext& ctx) {
           const Tensor& x = sx.get(name);
           const TensorOptions like_x{x.dtype(), x.device()};
           Tensor dx = ctx.needs(0) ? empty(x.shape(), like_x) : Tensor();
           Tensor dw = ctx.needs(1) ? empty({C}, like_x) : Tensor();
           Tensor db = ctx.needs(2) ? empty({C}, like_x) : Tensor();
           kernels::batch_norm_act_backward(dx, dw, db, dense(ctx.grad()), x, sw.get(name),
                                            sb.get(name), sm.get(name), si.get(name), act);
           return TensorList{dx, dw, db};
         },
         DoubleBackward::No);
  return y;
}

Tensor batch_norm_inference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                            const Tensor& running_mean, const Tensor& running_var, double eps) {
  Tensor y = empty(x.shape(), {x.dtype(), x.device()});
  kernels::batch_norm_forward_inference(y, dense(x), weight, bias, running_mean, running_var, eps);
  // x and running_mean are read only by the gradients of weight and running_var.
  const bool needs_centred = weight.requires_grad() || running_var.requires_grad();
  record("batch_norm", {x, weight, bias, running_mean, running_var}, y,
         [sx = save(needs_centred ? x : Tensor()), sw = save(weight),
          srm = save(needs_centred ? running_mean : Tensor()), srv = save(running_var),
          eps](const BackwardContext& ctx) {
           const Tensor& g = ctx.grad();
           const Tensor& w = sw.get("batch_norm");
           const Tensor inv = rsqrt(srv.get("batch_norm") + eps);  // [C]
           const Tensor scale = w.defined() ? w * inv : inv;                      // [C]
           const std::vector<int64_t> axes = non_channel_axes(g);
           Tensor dx, dw, db, drm, drv;
           if (ctx.needs(0)) dx = g * scale;
           if (ctx.needs(2) || ctx.needs(3)) {
             const Tensor g_sum = sum(g, axes);  // [C]
             if (ctx.needs(2)) db = g_sum;
             if (ctx.needs(3)) drm = -(g_sum * scale);
           }
           if (ctx.needs(1) || ctx.needs(4)) {
             // sum of g * (x - rm) per channel, [C]
             const Tensor g_centred = sum(g * (sx.get("batch_norm") - srm.get("batch_norm")), axes);
             if (ctx.needs(1)) dw = g_centred * inv;
             if (ctx.needs(4)) {  // d/d rv of (rv + eps)^(-1/2) is -1/2 inv^3
               Tensor d = g_centred * pow(inv, 3.0) * -0.5;
               drv = w.defined() ? d * w : d;
             }
           }
           return TensorList{dx, dw, db, drm, drv};
         });
  return y;
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var,
                  const BatchNormOptions& options) {
  check_defined(x, "batch_norm", "x");
  EMBER_CHECK(x.dim() >= 2, "batch_norm: x must have rank >= 2 ([N, ..., C], channels last), got ",
              x.describe());
  check_float(x, "batch_norm");
  EMBER_CHECK(x.numel() > 0, "batch_norm: x ", x.describe(), " is empty");
  const Shape channels{x.shape().back()};
  check_param(weight, x, channels, "batch_norm", "weight");
  check_param(bias, x, channels, "batch_norm", "bias");
  check_param(running_mean, x, channels, "batch_norm", "running_mean");
  check_param(running_var, x, channels, "batch_norm", "running_var");
  EMBER_CHECK(running_mean.defined() == running_var.defined(),
              "batch_norm: running_mean and running_var must be given together (got only ",
              running_mean.defined() ? "running_mean" : "running_var", ")");
  EMBER_CHECK(options.eps >= 0, "batch_norm: eps must be >= 0, got ", options.eps);
  if (options.training) {
    EMBER_CHECK(options.momentum >= 0 && options.momentum <= 1,
                "batch_norm: momentum must be in [0, 1], got ", options.momentum);
    return batch_norm_training(x, weight, bias, running_mean, running_var, options);
  }
  EMBER_CHECK(running_mean.defined(),
              "batch_norm: inference (training = false) needs running_mean and running_var");
  if (options.activation == BatchNormActivation::None)
    return batch_norm_inference(x, weight, bias, running_mean, running_var, options.eps);
  if (GradMode::enabled() && any_requires_grad({&x, &weight, &bias, &running_mean, &running_var}))
    return silu(batch_norm_inference(x, weight, bias, running_mean, running_var, options.eps));
  // Nothing to differentiate: one kernel, computing what the two ops compute.
  Tensor y = empty(x.shape(), {x.dtype(), x.device()});
  kernels::batch_norm_act_forward_inference(y, dense(x), weight, bias, running_mean, running_var,
                                            options.eps, kernel_activation(options.activation));
  return y;
}

Tensor layer_norm(const Tensor& x, int64_t normalized_ndim, const Tensor& weight,
                  const Tensor& bias, double eps) {
  check_defined(x, "layer_norm", "x");
  check_float(x, "layer_norm");
  EMBER_CHECK(normalized_ndim >= 1 && normalized_ndim <= x.dim(),
              "layer_norm: normalized_ndim must be in [1, ", x.dim(), "] for x ", x.describe(),
              ", got ", normalized_ndim);
  EMBER_CHECK(eps >= 0, "layer_norm: eps must be >= 0, got ", eps);
  const int64_t lead = x.dim() - normalized_ndim;
  const Shape normalized(x.shape().begin() + lead, x.shape().end());
  EMBER_CHECK(numel_of(normalized) > 0, "layer_norm: the normalised axes of x ", x.describe(),
              " are empty");
  check_param(weight, x, normalized, "layer_norm", "weight");
  check_param(bias, x, normalized, "layer_norm", "bias");

  // One statistic per leading index, kept with size-1 normalised axes.
  Shape stat_shape(x.shape().begin(), x.shape().begin() + lead);
  stat_shape.resize(x.dim(), 1);
  const TensorOptions like_x{x.dtype(), x.device()};
  Tensor y = empty(x.shape(), like_x);
  Tensor row_mean = empty(stat_shape, like_x), row_invstd = empty(stat_shape, like_x);
  kernels::layer_norm_forward(y, row_mean, row_invstd, dense(x), dense(weight), dense(bias), eps);

  // The weight only scales dx; x gives xhat for every gradient.
  record("layer_norm", {x, weight, bias}, y,
         [sx = save(x), sw = save(x.requires_grad() ? weight : Tensor()), sm = save(row_mean),
          si = save(row_invstd), normalized, normalized_ndim, eps](const BackwardContext& ctx) {
           const Tensor& g = ctx.grad();
           const Tensor& x = sx.get("layer_norm");
           const Tensor& w = sw.get("layer_norm");
           const TensorOptions like_x{x.dtype(), x.device()};
           if (!ctx.create_graph()) {
             Tensor dx = ctx.needs(0) ? empty(x.shape(), like_x) : Tensor();
             Tensor dw = ctx.needs(1) ? empty(normalized, like_x) : Tensor();
             Tensor db = ctx.needs(2) ? empty(normalized, like_x) : Tensor();
             kernels::layer_norm_backward(dx, dw, db, dense(g), dense(x), dense(w),
                                          sm.get("layer_norm"), si.get("layer_norm"));
             return TensorList{dx, dw, db};
           }
           // Composite: recompute the statistics from x so that they carry x's history.
           std::vector<int64_t> axes(normalized_ndim);
           std::iota(axes.begin(), axes.end(), x.dim() - normalized_ndim);
           const Tensor centred = x - mean(x, axes, true);
           const Tensor inv = rsqrt(mean(centred * centred, axes, true) + eps);
           const Tensor xhat = centred * inv;
           Tensor dx, dw, db;
           if (ctx.needs(0)) {
             const Tensor gw = w.defined() ? g * w : g;
             dx = inv * (gw - mean(gw, axes, true) - xhat * mean(gw * xhat, axes, true));
           }
           if (ctx.needs(1)) dw = sum_to(g * xhat, normalized);
           if (ctx.needs(2)) db = sum_to(g, normalized);
           return TensorList{dx, dw, db};
         });
  return y;
}

}  // namespace ember
