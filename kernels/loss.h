// Contract for the fused cross-entropy kernels (CPU: kernels/cpu/loss.cpp; CUDA:
// kernels/cuda/loss.cu), used by ops/loss.cpp's cross_entropy. One pass over the logits instead
// of log_softmax + gather + reductions. Derivation: docs/cuda_kernels.md ("Fused cross-entropy").
//
// logits x [N, C] float32/float64, any strides; target int64 [N], any stride; weight [C] in x's
// dtype, any stride, or undefined (all ones); eps = label smoothing in [0, 1].
// With m_i = max_c x[i, c], s_i = sum_c exp(x[i, c] - m_i) (in double), lse_i = m_i + log s_i:
//   loss[i] = (1 - eps) w[t_i] (lse_i - x[i, t_i]) + eps / C sum_c w[c] (lse_i - x[i, c])
// accumulated in double.
#pragma once
#include "tensor/tensor.h"

namespace ember::kernels {

// Writes loss [N] and target_weight [N] (= w[t_i], contiguous, x's dtype) and lse [N]
// (contiguous float64, kept for the backward). A target outside [0, C) throws on the CPU; on the
// GPU it gives a NaN loss and weight and is recorded as a deferred device error
// (tensor/cuda/device_errors.h), thrown with the same message at the next host synchronisation.
void cross_entropy_forward(const Tensor& loss, const Tensor& target_weight, const Tensor& lse,
                           const Tensor& x, const Tensor& target, const Tensor& weight, double eps);
// grad [N, C] contiguous, x's dtype:
//   grad[i, c] = scale * (softmax[i, c] * S_i - coef[i, c]),
//   coef[i, c] = (1 - eps) w[t_i] [c == t_i] + eps / C w[c],  S_i = sum_c coef[i, c]
//              = (1 - eps) w[t_i] + eps / C * weight_sum,
// softmax[i, c] = exp(x[i, c] - lse_i). scale and weight_sum are 0-d tensors in x's dtype on x's
// device (read by the kernel, so no host sync): scale = dL/dloss / sum_i w[t_i].
void cross_entropy_backward(const Tensor& grad, const Tensor& x, const Tensor& target,
                            const Tensor& weight, const Tensor& lse, const Tensor& scale,
                            const Tensor& weight_sum, double eps);

namespace cpu {
void cross_entropy_forward(const Tensor& loss, const Tensor& target_weight, const Tensor& lse,
                           const Tensor& x, const Tensor& target, const Tensor& weight, double eps);
void cross_entropy_backward(const Tensor& grad, const Tensor& x, const Tensor& target,
                            const Tensor& weight, const Tensor& lse, const Tensor& scale,
                            const Tensor& weight_sum, double eps);
}  // namespace cpu

#ifdef EMBER_WITH_CUDA
namespace cuda {
void cross_entropy_forward(const Tensor& loss, const Tensor& target_weight, const Tensor& lse,
                           const Tensor& x, const Tensor& target, const Tensor& weight, double eps);
void cross_entropy_backward(const Tensor& grad, const Tensor& x, const Tensor& target,
                            const Tensor& weight, const Tensor& lse, const Tensor& scale,
                            const Tensor& weight_sum, double eps);
}  // namespace cuda
#endif

}  // namespace ember::kernels
