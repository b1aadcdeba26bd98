// Device dispatch for the fused cross-entropy kernels: the CPU reference (kernels/cpu/loss.cpp)
// or the CUDA kernels (kernels/cuda/loss.cu).
#include "kernels/loss.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void cross_entropy_forward(const Tensor& loss, const Tensor& target_weight, const Tensor& lse,
                           const Tensor& x, const Tensor& target, const Tensor& weight, double eps) {
  EMBER_DISPATCH_DEVICE(x, "cross_entropy_forward", cross_entropy_forward, loss, target_weight, lse,
                        x, target, weight, eps);
}

void cross_entropy_backward(const Tensor& grad, const Tensor& x, const Tensor& target,
                            const Tensor& weight, const Tensor& lse, const Tensor& scale,
                            const Tensor& weight_sum, double eps) {
  EMBER_DISPATCH_DEVICE(x, "cross_entropy_backward", cross_entropy_backward, grad, x, target,
                        weight, lse, scale, weight_sum, eps);
}

}  // namespace ember::kernels
