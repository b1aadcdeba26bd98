// Contract for fused optimizer updates (CPU: kernels/cpu/optim.cpp; CUDA: kernels/cuda/optim.cu).
// Two forms, one per-element formula (kernels/optim_step.h), evaluated in double with each stored
// value rounded once to the parameter's dtype:
// - per tensor (sgd_step, adam_step): one call updates one parameter, one kernel launch; kept as
//   the tested reference;
// - multi-tensor (*_multi): one call updates a whole list of tensors of ONE device and ONE dtype
//   (the caller groups mixed lists; a mixed list is rejected). The CUDA side packs up to
//   kListTensors tensors' pointers and sizes and a table of (tensor, chunk) pairs into one kernel
//   argument block per launch, one block per chunk of kListChunk elements, and launches again
//   only when a list does not fit one block; the CPU side loops over the same chunks in parallel.
//   Elements are independent, so results are bit-identical to the per-tensor kernels on each
//   device and independent of the thread count.
// Device-held scalars: the multi-tensor updates read the learning rate and step counts from
// `scalars`, a contiguous float64 tensor on the tensors' device owned by the optimizer, and keep
// the step counts there (incremented on the device), so a step reads nothing from the host and its
// kernel arguments do not change from step to step (what a CUDA graph capture needs).
// All tensors are contiguous. Tested in tests/test_optim.cpp and tests/test_optim_multi.cpp (CPU),
// tests/test_cuda_optim.cpp (CPU against CUDA) and tools/emulate_cuda/check_misc.cpp.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace ember::kernels {

// Multi-tensor geometry (both devices chunk alike; only CUDA has the argument-block limit).
constexpr int64_t kListChunk = 65536;  // elements per chunk: one CUDA block, one CPU work item
constexpr int kListTensors = 24;       // tensors per CUDA launch
constexpr int kListBlocks = 320;       // (tensor, chunk) pairs per CUDA launch

// torch.optim.SGD (the formula of optim/sgd.h), with d = grad + weight_decay * param:
//   b = d (first_step) or momentum * b + (1 - dampening) * d
//   d = d + momentum * b (nesterov) or b (momentum > 0)
//   param = param - lr * d
// momentum_buffer (b) is read and written only when momentum != 0 (it may be undefined
// otherwise); on the first step its contents are ignored.
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step);

// torch.optim.Adam / AdamW (decoupled) for step >= 1 (the count including this step):
//   decoupled: param = param * (1 - lr * weight_decay);  else: grad = grad + weight_decay * param
//   exp_avg = beta1 * exp_avg + (1 - beta1) * grad
//   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad^2
//   param = param - lr / (1 - beta1^step) * exp_avg / (sqrt(exp_avg_sq / (1 - beta2^step)) + eps)
// where, as in PyTorch, the denominator is sqrt(exp_avg_sq) / sqrt(1 - beta2^step) + eps.
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, int64_t step);

// ---- multi-tensor forms ----
using TensorList = std::vector<Tensor>;

// The per-tensor sgd_step over every i: params[i], grads[i], momentum_buffers[i] (ignored and may
// be empty when momentum == 0), first_step[i] (1 on that buffer's first step). lr = scalars[0].
void sgd_step_multi(const TensorList& params, const TensorList& grads,
                    const TensorList& momentum_buffers, const std::vector<uint8_t>& first_step,
                    const Tensor& scalars, double momentum, double dampening, double weight_decay,
                    bool nesterov);

// The per-tensor adam_step over every i, with lr = scalars[0] and the step counts held in
// scalars[step_slots[i]] (completed updates of tensor i): each is incremented first, on the
// device, and the incremented count is this update's step. Slots must be distinct and not 0.
void adam_step_multi(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                     const TensorList& exp_avg_sqs, const Tensor& scalars,
                     const std::vector<int64_t>& step_slots, double beta1, double beta2,
                     double eps, double weight_decay, bool decoupled);

// The weight EMA (optim/ema.h) over every i: shadows[i] = d*shadows[i] + (1-d)*params[i] in the
// two roundings of kernels/optim_step.h's ema(), where d = ema_decay(decay, warmup, n) and
// n = scalars[count_slot] (earlier updates). When count_update, scalars[count_slot] is incremented
// on the device after the update (a list split in dtype groups counts with its last group).
void ema_update_multi(const TensorList& shadows, const TensorList& params, const Tensor& scalars,
                      int64_t count_slot, double decay, bool warmup, bool count_update);

// Sums of squares for clip_grad_norm: sums[positions[i]] = double(T(sum over grads[i] of T(g*g))),
// the sum taken in double (as kernels' sum() does) and rounded to the gradients' dtype T, like
// the composite sum(g * g) it replaces. sums: float64 [>= max position + 1] on the grads' device.
void sum_squares_multi(const TensorList& grads, const Tensor& sums,
                       const std::vector<int64_t>& positions);

// result[0] = sqrt(sums[0] + sums[1] + ... in order) (the total norm), result[1] =
// optim_step::clip_coefficient(norm, max_norm). When keep_if_nonfinite and the norm is not
// finite, result[1] = 1: nothing is scaled (clip_grad_norm's error_if_nonfinite; the caller
// reports the non-finite result[0] when it reads it). Nothing is read back to the host.
// sums: float64 [n]; result: float64 [2], on one device.
void clip_coefficient(const Tensor& sums, const Tensor& result, double max_norm,
                      bool keep_if_nonfinite);

// grads[i] *= T(result[1]) in place, unless result[1] == 1 (mul_'s rounding).
void scale_by_clip_coefficient_multi(const TensorList& grads, const Tensor& result);

namespace cpu {
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step);
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, int64_t step);
void sgd_step_multi(const TensorList& params, const TensorList& grads,
                    const TensorList& momentum_buffers, const std::vector<uint8_t>& first_step,
                    const Tensor& scalars, double momentum, double dampening, double weight_decay,
                    bool nesterov);
void adam_step_multi(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                     const TensorList& exp_avg_sqs, const Tensor& scalars,
                     const std::vector<int64_t>& step_slots, double beta1, double beta2,
                     double eps, double weight_decay, bool decoupled);
void ema_update_multi(const TensorList& shadows, const TensorList& params, const Tensor& scalars,
                      int64_t count_slot, double decay, bool warmup, bool count_update);
void sum_squares_multi(const TensorList& grads, const Tensor& sums,
                       const std::vector<int64_t>& positions);
void clip_coefficient(const Tensor& sums, const Tensor& result, double max_norm,
                      bool keep_if_nonfinite);
void scale_by_clip_coefficient_multi(const TensorList& grads, const Tensor& result);
}  // namespace cpu

#ifdef EMBER_WITH_CUDA
namespace cuda {
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step);
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, int64_t step);
void sgd_step_multi(const TensorList& params, const TensorList& grads,
                    const TensorList& momentum_buffers, const std::vector<uint8_t>& first_step,
                    const Tensor& scalars, double momentum, double dampening, double weight_decay,
                    bool nesterov);
void adam_step_multi(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                     const TensorList& exp_avg_sqs, const Tensor& scalars,
                     const std::vector<int64_t>& step_slots, double beta1, double beta2,
                     double eps, double weight_decay, bool decoupled);
void ema_update_multi(const TensorList& shadows, const TensorList& params, const Tensor& scalars,
                      int64_t count_slot, double decay, bool warmup, bool count_update);
void sum_squares_multi(const TensorList& grads, const Tensor& sums,
                       const std::vector<int64_t>& positions);
void clip_coefficient(const Tensor& sums, const Tensor& result, double max_norm,
                      bool keep_if_nonfinite);
void scale_by_clip_coefficient_multi(const TensorList& grads, const Tensor& result);
}  // namespace cuda
#endif

}  // namespace ember::kernels
