// Contract for the input preprocessing kernel (CPU: kernels/cpu/preprocess.cpp; CUDA:
// kernels/cuda/preprocess.cu; the formula both run: kernels/preprocess_math.h): Keras's
// Rescaling followed by Normalization in one pass, reading the pixels as they come (uint8 from
// the loader, or float) and writing the model's float type, so a uint8 batch is converted,
// rescaled and normalised by one dispatch.
//
//   out[..., c] = (x[..., c] * scale + offset - mean[c]) / max(sqrt(variance[c]), eps)
//
// each step rounded in out's dtype in the order the separate ops round it (x * scale, + offset
// when offset != 0, - mean, * the reciprocal of the clamped square root), so the result is bit
// for bit that of Rescaling then Normalization (models/efficientnet.h), on the CPU and on the
// GPU alike. Collapsing the two layers into one affine x * a[c] + b[c] would save an operation
// per element but round differently (a few ulp), and the step is memory-bound either way.
// Without mean and variance (undefined tensors) only the rescale runs.
// x: [..., C], uint8, float32 or float64, contiguous, on out's device. out: x's shape,
// float32 or float64, contiguous. mean, variance: [C] in out's dtype on out's device, or both
// undefined. Tested in tests/test_preprocess.cpp.
#pragma once
#include "tensor/tensor.h"

namespace ember::kernels {

void rescale_normalize(const Tensor& out, const Tensor& x, double scale, double offset,
                       const Tensor& mean, const Tensor& variance, double eps);

namespace cpu {
void rescale_normalize(const Tensor& out, const Tensor& x, double scale, double offset,
                       const Tensor& mean, const Tensor& variance, double eps);
}  // namespace cpu

#ifdef EMBER_WITH_CUDA
namespace cuda {
void rescale_normalize(const Tensor& out, const Tensor& x, double scale, double offset,
                       const Tensor& mean, const Tensor& variance, double eps);
}  // namespace cuda
#endif

}  // namespace ember::kernels
