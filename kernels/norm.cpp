// Device dispatch for normalisation kernels (contract: kernels/norm.h).
#include "kernels/norm.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void batch_norm_act_forward_training(const Tensor& y, const Tensor& mean, const Tensor& invstd,
                                     const Tensor& x, const Tensor& weight, const Tensor& bias,
                                     const RunningStats& running, double eps,
                                     NormActivation act) {
  EMBER_DISPATCH_DEVICE(x, "batch_norm (fused training forward)", batch_norm_act_forward_training,
                        y, mean, invstd, x, weight, bias, running, eps, act);
}

void batch_norm_act_forward_inference(const Tensor& y, const Tensor& x, const Tensor& weight,
                                      const Tensor& bias, const Tensor& running_mean,
                                      const Tensor& running_var, double eps, NormActivation act) {
  EMBER_DISPATCH_DEVICE(x, "batch_norm (fused inference forward)",
                        batch_norm_act_forward_inference, y, x, weight, bias, running_mean,
                        running_var, eps, act);
}

void batch_norm_act_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                             const Tensor& dy, const Tensor& x, const Tensor& weight,
                             const Tensor& bias, const Tensor& mean, const Tensor& invstd,
                             NormActivation act) {
  EMBER_DISPATCH_DEVICE(x, "batch_norm (fused backward)", batch_norm_act_backward, dx, dweight,
                        dbias, dy, x, weight, bias, mean, invstd, act);
}

void batch_norm_forward_training(const Tensor& y, const Tensor& mean, const Tensor& var,
                                 const Tensor& invstd, const Tensor& x, const Tensor& weight,
                                 const Tensor& bias, double eps) {
  EMBER_DISPATCH_DEVICE(x, "batch_norm (training forward)", batch_norm_forward_training, y, mean,
                        var, invstd, x, weight, bias, eps);
}

void batch_norm_forward_inference(const Tensor& y, const Tensor& x, const Tensor& weight,
                                  const Tensor& bias, const Tensor& running_mean,
                                  const Tensor& running_var, double eps) {
  EMBER_DISPATCH_DEVICE(x, "batch_norm (inference forward)", batch_norm_forward_inference, y, x,
                        weight, bias, running_mean, running_var, eps);
}

void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd) {
  EMBER_DISPATCH_DEVICE(x, "batch_norm (backward)", batch_norm_backward, dx, dweight, dbias, dy, x,
                        weight, mean, invstd);
}

void batch_norm_update_running_stats(const Tensor& running_mean, const Tensor& running_var,
                                     const Tensor& mean, const Tensor& var, double momentum,
                                     int64_t count, bool unbiased_var) {
  EMBER_DISPATCH_DEVICE(mean, "batch_norm (running statistics update)",
                        batch_norm_update_running_stats, running_mean, running_var, mean, var,
                        momentum, count, unbiased_var);
}

void layer_norm_forward(const Tensor& y, const Tensor& mean, const Tensor& invstd,
                        const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  EMBER_DISPATCH_DEVICE(x, "layer_norm (forward)", layer_norm_forward, y, mean, invstd, x, weight,
                        bias, eps);
}

void layer_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd) {
  EMBER_DISPATCH_DEVICE(x, "layer_norm (backward)", layer_norm_backward, dx, dweight, dbias, dy, x,
                        weight, mean, invstd);
}

}  // namespace ember::kernels
