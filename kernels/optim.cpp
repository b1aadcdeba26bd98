// Device dispatch and argument checks for the fused optimizer updates (contract: kernels/optim.h).
#include "kernels/optim.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

namespace {

// `t` (named `name`) must be a contiguous tensor matching param in shape, dtype and device.
void check_like_param(const Tensor& t, const Tensor& param, const char* op, const char* name) {
  check_defined(t, op, name);
  EMBER_CHECK(t.shape() == param.shape() && t.dtype() == param.dtype() &&
                  t.device() == param.device(),
              op, ": ", name, " ", t.describe(), " does not match param ", param.describe());
  EMBER_CHECK(t.is_contiguous(), op, ": ", name, " must be contiguous, got a strided ",
              t.describe());
}

void check_param(const Tensor& param, const char* op) {
  check_defined(param, op, "param");
  EMBER_CHECK(param.dtype() == DType::Float32 || param.dtype() == DType::Float64, op,
              ": param must be float32 or float64, got ", param.describe());
  EMBER_CHECK(param.is_contiguous(), op, ": param must be contiguous, got a strided ",
              param.describe());
}

}  // namespace

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step) {
  check_param(param, "sgd_step");
  check_like_param(grad, param, "sgd_step", "grad");
  if (momentum != 0.0) check_like_param(momentum_buffer, param, "sgd_step", "momentum_buffer");
  if (param.numel() == 0) return;
  EMBER_DISPATCH_DEVICE(param, "sgd_step", sgd_step, param, grad, momentum_buffer, lr, momentum,
                        dampening, weight_decay, nesterov, first_step);
  param.bump_version();
  if (momentum != 0.0) momentum_buffer.bump_version();
}

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, int64_t step) {
  check_param(param, "adam_step");
  check_like_param(grad, param, "adam_step", "grad");
  check_like_param(exp_avg, param, "adam_step", "exp_avg");
  check_like_param(exp_avg_sq, param, "adam_step", "exp_avg_sq");
  EMBER_CHECK(step >= 1, "adam_step: step counts this update and must be >= 1, got ", step);
  if (param.numel() == 0) return;
  EMBER_DISPATCH_DEVICE(param, "adam_step", adam_step, param, grad, exp_avg, exp_avg_sq, lr, beta1,
                        beta2, eps, weight_decay, decoupled, step);
  param.bump_version();
  exp_avg.bump_version();
  exp_avg_sq.bump_version();
}

}  // namespace ember::kernels
