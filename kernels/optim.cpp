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

// Every list has one entry per tensor of `params`, each like the matching param; the params share
// one device and dtype. `what` names the lists in messages.
void check_list(const TensorList& list, const TensorList& params, const char* op,
                const char* name) {
  EMBER_CHECK(list.size() == params.size(), op, ": ", name, " has ", list.size(),
              " tensors but params has ", params.size());
  for (size_t i = 0; i < list.size(); ++i) check_like_param(list[i], params[i], op, name);
}

void check_params(const TensorList& params, const char* op) {
  for (size_t i = 0; i < params.size(); ++i) {
    check_param(params[i], op);
    EMBER_CHECK(params[i].dtype() == params[0].dtype() && params[i].device() == params[0].device(),
                op, ": one call takes tensors of one dtype and device (group mixed lists); tensor ",
                i, " is ", params[i].describe(), ", tensor 0 is ", params[0].describe());
  }
}

// scalars: a contiguous float64 tensor on `like`'s device with at least `need` entries.
void check_scalars(const Tensor& scalars, const Tensor& like, int64_t need, const char* op) {
  check_defined(scalars, op, "scalars");
  EMBER_CHECK(scalars.dtype() == DType::Float64 && scalars.is_contiguous() &&
                  scalars.device() == like.device() && scalars.numel() >= need,
              op, ": scalars must be a contiguous float64 tensor of at least ", need,
              " entries on ", like.describe(), "'s device, got ", scalars.describe());
}

void bump_all(const TensorList& list) {
  for (const Tensor& t : list) t.bump_version();
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

void sgd_step_multi(const TensorList& params, const TensorList& grads,
                    const TensorList& momentum_buffers, const std::vector<uint8_t>& first_step,
                    const Tensor& scalars, double momentum, double dampening, double weight_decay,
                    bool nesterov) {
  const char* op = "sgd_step_multi";
  if (params.empty()) return;
  check_params(params, op);
  check_list(grads, params, op, "grads");
  if (momentum != 0.0) check_list(momentum_buffers, params, op, "momentum_buffers");
  EMBER_CHECK(first_step.size() == params.size(), op, ": first_step has ", first_step.size(),
              " entries for ", params.size(), " tensors");
  check_scalars(scalars, params[0], 1, op);
  EMBER_DISPATCH_DEVICE(params[0], op, sgd_step_multi, params, grads, momentum_buffers, first_step,
                        scalars, momentum, dampening, weight_decay, nesterov);
  bump_all(params);
  if (momentum != 0.0) bump_all(momentum_buffers);
}

void adam_step_multi(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                     const TensorList& exp_avg_sqs, const Tensor& scalars,
                     const std::vector<int64_t>& step_slots, double beta1, double beta2,
                     double eps, double weight_decay, bool decoupled) {
  const char* op = "adam_step_multi";
  if (params.empty()) return;
  check_params(params, op);
  check_list(grads, params, op, "grads");
  check_list(exp_avgs, params, op, "exp_avgs");
  check_list(exp_avg_sqs, params, op, "exp_avg_sqs");
  EMBER_CHECK(step_slots.size() == params.size(), op, ": step_slots has ", step_slots.size(),
              " entries for ", params.size(), " tensors");
  check_defined(scalars, op, "scalars");
  for (size_t i = 0; i < step_slots.size(); ++i)
    EMBER_CHECK(step_slots[i] >= 1 && step_slots[i] < scalars.numel(), op, ": step slot ",
                step_slots[i], " of tensor ", i, " is outside scalars ", scalars.describe(),
                " (slot 0 is the learning rate)");
  check_scalars(scalars, params[0], 1, op);
  EMBER_DISPATCH_DEVICE(params[0], op, adam_step_multi, params, grads, exp_avgs, exp_avg_sqs,
                        scalars, step_slots, beta1, beta2, eps, weight_decay, decoupled);
  bump_all(params);
  bump_all(exp_avgs);
  bump_all(exp_avg_sqs);
  scalars.bump_version();
}

void ema_update_multi(const TensorList& shadows, const TensorList& params, const Tensor& scalars,
                      int64_t count_slot, double decay, bool warmup, bool count_update) {
  const char* op = "ema_update_multi";
  if (params.empty()) return;
  check_params(params, op);
  check_list(shadows, params, op, "shadows");
  EMBER_CHECK(count_slot >= 0, op, ": negative count slot ", count_slot);
  check_scalars(scalars, params[0], count_slot + 1, op);
  EMBER_DISPATCH_DEVICE(params[0], op, ema_update_multi, shadows, params, scalars, count_slot,
                        decay, warmup, count_update);
  bump_all(shadows);
  if (count_update) scalars.bump_version();
}

void sum_squares_multi(const TensorList& grads, const Tensor& sums,
                       const std::vector<int64_t>& positions) {
  const char* op = "sum_squares_multi";
  if (grads.empty()) return;
  check_params(grads, op);
  EMBER_CHECK(positions.size() == grads.size(), op, ": positions has ", positions.size(),
              " entries for ", grads.size(), " tensors");
  check_defined(sums, op, "sums");
  for (size_t i = 0; i < positions.size(); ++i)
    EMBER_CHECK(positions[i] >= 0 && positions[i] < sums.numel(), op, ": position ", positions[i],
                " of tensor ", i, " is outside sums ", sums.describe());
  check_scalars(sums, grads[0], 1, op);
  EMBER_DISPATCH_DEVICE(grads[0], op, sum_squares_multi, grads, sums, positions);
  sums.bump_version();
}

void clip_coefficient(const Tensor& sums, const Tensor& result, double max_norm,
                      bool keep_if_nonfinite) {
  const char* op = "clip_coefficient";
  check_defined(sums, op, "sums");
  check_scalars(sums, sums, 1, op);
  check_scalars(result, sums, 2, op);
  EMBER_CHECK(max_norm > 0.0, op, ": max_norm must be > 0, got ", max_norm);
  EMBER_DISPATCH_DEVICE(sums, op, clip_coefficient, sums, result, max_norm, keep_if_nonfinite);
  result.bump_version();
}

void scale_by_clip_coefficient_multi(const TensorList& grads, const Tensor& result) {
  const char* op = "scale_by_clip_coefficient_multi";
  if (grads.empty()) return;
  check_params(grads, op);
  check_scalars(result, grads[0], 2, op);
  EMBER_DISPATCH_DEVICE(grads[0], op, scale_by_clip_coefficient_multi, grads, result);
  bump_all(grads);
}

}  // namespace ember::kernels
