// Contract for activation kernels beyond the elementwise ones (CPU: kernels/cpu/activation.cpp;
// CUDA: kernels/cuda/activation.cu). Pointwise activations and their fused gradients live in
// kernels/elementwise.h (UnaryOp::Relu..., BinaryOp::ReluGrad...); this header holds the ones
// that reduce along an axis. `out` is preallocated and contiguous with x's shape; x may have any
// strides; `axis` is already normalized. float32/float64.
#pragma once
#include "tensor/tensor.h"

namespace ember::kernels {

// Numerically stable: each slice along `axis` is shifted by its maximum before exp, and the
// normalizer is accumulated in double.
// softmax:     out = exp(x - m) / sum(exp(x - m))
// log_softmax: out = x - m - log(sum(exp(x - m)))
void softmax(const Tensor& out, const Tensor& x, int64_t axis);
void log_softmax(const Tensor& out, const Tensor& x, int64_t axis);

namespace cpu {
void softmax(const Tensor& out, const Tensor& x, int64_t axis);
void log_softmax(const Tensor& out, const Tensor& x, int64_t axis);
}  // namespace cpu

#ifdef EMBER_WITH_CUDA
namespace cuda {
void softmax(const Tensor& out, const Tensor& x, int64_t axis);
void log_softmax(const Tensor& out, const Tensor& x, int64_t axis);
}  // namespace cuda
#endif

}  // namespace ember::kernels
