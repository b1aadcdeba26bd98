// Contract for fused optimizer updates (CPU: kernels/cpu/optim.cpp; CUDA: kernels/cuda/optim.cu).
// One call updates one parameter in place, elementwise, with one kernel launch: no temporaries.
// param, grad and the state buffers are contiguous, of one shape, dtype (float32/float64) and
// device. Both devices evaluate the per-element formula of kernels/optim_step.h in double and
// round each stored value once to the parameter's dtype. Tested in tests/test_optim.cpp (CPU,
// against hand computations and the composite update) and tests/test_cuda_optim.cpp.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace ember::kernels {

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

namespace cpu {
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step);
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, int64_t step);
}  // namespace cpu

#ifdef EMBER_WITH_CUDA
namespace cuda {
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step);
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, int64_t step);
}  // namespace cuda
#endif

}  // namespace ember::kernels
