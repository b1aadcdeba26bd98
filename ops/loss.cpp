// Losses, mean reduction, matching PyTorch's F.cross_entropy (class weights, label smoothing),
// F.mse_loss and F.binary_cross_entropy_with_logits. Tested in tests/test_loss.cpp.
//
// cross_entropy runs the fused kernels of kernels/loss.h (one pass over the logits; backward in
// closed form, or from differentiable ops when a double backward is recorded);
// cross_entropy_composite, the reference it is tested against (tests/test_cuda_loss.cpp), and
// mse_loss are compositions of differentiable ops (log_softmax, gather, ...), so their gradients
// and second derivatives come from those ops. With logp = log_softmax(x),
// class weights w (all ones when absent) and smoothing eps over C classes, PyTorch computes
//   loss_i = (1 - eps) * w[t_i] * (-logp[i, t_i]) + eps / C * sum_c w[c] * (-logp[i, c])
//   loss   = sum_i loss_i / sum_i w[t_i]
// bce_with_logits is one op: forward max(x, 0) - x*y + log(1 + exp(-|x|)) (never overflows),
// backward dx = (sigmoid(x) - y) * g / n and dy = -x * g / n, written with differentiable ops.
#include "ops/loss.h"

#include "autograd/function.h"
#include "kernels/loss.h"
#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/index.h"
#include "ops/reduce.h"
#include "ops/shape.h"

namespace ember {

namespace {

void check_cross_entropy_args(const Tensor& logits, const Tensor& target, const Tensor& class_weight,
                              double label_smoothing) {
  check_defined(logits, "cross_entropy", "logits");
  check_defined(target, "cross_entropy", "target");
  EMBER_CHECK(logits.dim() == 2, "cross_entropy: logits must be [N, C], got ", logits.describe());
  EMBER_CHECK(target.dtype() == DType::Int64,
              "cross_entropy: target must hold int64 class indices, got ", target.describe());
  check_same_device(logits, target, "cross_entropy");
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  EMBER_CHECK(N > 0 && C > 0, "cross_entropy: empty logits ", logits.describe());
  EMBER_CHECK(target.shape() == Shape{N}, "cross_entropy: target ", target.describe(),
              " must be [N] = [", N, "] for logits ", logits.describe());
  EMBER_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0,
              "cross_entropy: label_smoothing must be in [0, 1], got ", label_smoothing);
  if (class_weight.defined()) {
    EMBER_CHECK(class_weight.shape() == Shape{C}, "cross_entropy: class_weight ",
                class_weight.describe(), " must be [C] = [", C, "] for logits ", logits.describe());
    check_same_dtype(logits, class_weight, "cross_entropy");
    check_same_device(logits, class_weight, "cross_entropy");
  }
  // Name the bad label here when that costs no device sync. On the GPU the fused kernel and the
  // composite's gather record it as a deferred device error, thrown at the next host sync
  // (kernels/loss.h, tensor/cuda/device_errors.h).
  if (target.device().is_cpu()) {
    const auto labels = target.to_vector<int64_t>();
    for (int64_t i = 0; i < N; ++i)
      EMBER_CHECK(labels[i] >= 0 && labels[i] < C, "cross_entropy: target label ", labels[i],
                  " of sample ", i, " is out of range [0, ", C, ") for logits ", logits.describe());
  }
}

}  // namespace

Tensor cross_entropy_composite(const Tensor& logits, const Tensor& target,
                               const Tensor& class_weight, double label_smoothing) {
  check_cross_entropy_args(logits, target, class_weight, label_smoothing);
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  const double eps = label_smoothing;
  const Tensor logp = log_softmax(logits, 1);
  const Tensor picked = reshape(gather(logp, 1, reshape(target, {N, 1})), {N});  // logp[i, t_i]
  if (!class_weight.defined()) {
    Tensor loss = mean(picked) * -(1.0 - eps);
    if (eps > 0.0) loss = loss + sum(logp) * (-eps / static_cast<double>(C * N));
    return loss;
  }
  const Tensor weight_t = gather(class_weight, 0, target);  // w[t_i]
  Tensor total = sum(weight_t * picked) * -(1.0 - eps);
  if (eps > 0.0)
    total = total + sum(logp * class_weight) * (-eps / static_cast<double>(C));
  return total / sum(weight_t);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& class_weight,
                     double label_smoothing) {
  // Gradients with respect to the class weights only come from the composite.
  if (class_weight.defined() && class_weight.requires_grad())
    return cross_entropy_composite(logits, target, class_weight, label_smoothing);
  check_cross_entropy_args(logits, target, class_weight, label_smoothing);
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  const double eps = label_smoothing;
  const TensorOptions options{logits.dtype(), logits.device()};
  const Tensor per_sample = empty({N}, options), target_weight = empty({N}, options);
  const Tensor lse = empty({N}, {DType::Float64, logits.device()});
  Tensor out, weight_total;
  {
    NoGradGuard no_grad;
    kernels::cross_entropy_forward(per_sample, target_weight, lse, logits, target, class_weight, eps);
    weight_total = sum(target_weight);  // N without class weights
    out = sum(per_sample) / weight_total;
  }
  record("cross_entropy", {logits}, out,
         [sx = save(logits), target, class_weight, target_weight, lse, weight_total, eps, N, C,
          options](const BackwardContext& ctx) {
           const Tensor& x = sx.get("cross_entropy");
           const Tensor scale = ctx.grad() / weight_total;
           const Tensor weight_sum = class_weight.defined()
                                         ? sum(class_weight)
                                         : full({}, static_cast<double>(C), options);
           if (!ctx.create_graph()) {
             Tensor g = empty({N, C}, options);
             kernels::cross_entropy_backward(g, x, target, class_weight, lse, scale, weight_sum, eps);
             return TensorList{g};
           }
           // Recording a double backward: the same closed form from differentiable ops,
           // (softmax(x) * S_i - coef) * scale, where only softmax(x) and scale carry history.
           Tensor coef, S;
           {
             NoGradGuard no_grad;
             const Tensor classes = reshape(arange(C, options), {1, C});
             const Tensor labels = reshape(to_dtype(target, x.dtype()), {N, 1});
             const Tensor onehot = to_dtype(equal(labels, classes), x.dtype());  // [N, C]
             const Tensor wt = reshape(target_weight, {N, 1});
             const double smooth = eps / static_cast<double>(C);
             coef = onehot * wt * (1.0 - eps);
             coef = coef + (class_weight.defined() ? reshape(class_weight, {1, C}) * smooth
                                                   : full({}, smooth, options));
             S = wt * (1.0 - eps) + weight_sum * smooth;  // [N, 1]
           }
           return TensorList{(softmax(x, 1) * S - coef) * scale};
         });
  return out;
}

Tensor mse_loss(const Tensor& prediction, const Tensor& target) {
  check_defined(prediction, "mse_loss", "prediction");
  check_defined(target, "mse_loss", "target");
  check_same_shape(prediction, target, "mse_loss");
  check_same_dtype(prediction, target, "mse_loss");
  check_same_device(prediction, target, "mse_loss");
  EMBER_CHECK(prediction.numel() > 0, "mse_loss: empty prediction ", prediction.describe());
  const Tensor d = prediction - target;
  return mean(d * d);
}

Tensor bce_with_logits(const Tensor& logits, const Tensor& target) {
  check_defined(logits, "bce_with_logits", "logits");
  check_defined(target, "bce_with_logits", "target");
  check_same_shape(logits, target, "bce_with_logits");
  check_same_dtype(logits, target, "bce_with_logits");
  check_same_device(logits, target, "bce_with_logits");
  EMBER_CHECK(logits.dtype() == DType::Float32 || logits.dtype() == DType::Float64,
              "bce_with_logits: expected float32 or float64 tensors, got ", logits.describe());
  const int64_t n = logits.numel();
  EMBER_CHECK(n > 0, "bce_with_logits: empty logits ", logits.describe());
  Tensor out;
  {
    NoGradGuard no_grad;
    const Tensor& x = logits;
    const Tensor& y = target;
    out = mean(relu(x) - x * y + log(1.0 + exp(-abs(x))));
  }
  record("bce_with_logits", {logits, target}, out,
         [sx = save(logits), sy = save(logits.requires_grad() ? target : Tensor()),
          n](const BackwardContext& ctx) {
           const Tensor& x = sx.get("bce_with_logits");
           const Tensor scale = ctx.grad() * (1.0 / static_cast<double>(n));
           return TensorList{
               ctx.needs(0) ? (sigmoid(x) - sy.get("bce_with_logits")) * scale : Tensor(),
               ctx.needs(1) ? -x * scale : Tensor()};
         });
  return out;
}

}  // namespace ember
