// Input preprocessing as one op: Keras's Rescaling then Normalization (models/efficientnet.h)
// fused into one kernel pass (kernels/preprocess.h) that also converts uint8 pixels, so a batch
// uploaded as uint8 reaches the network's float type in one dispatch.
// Tested in tests/test_preprocess.cpp.
#pragma once
#include "tensor/tensor.h"

namespace ember {

// The preprocessing of an input whose channels are its last axis.
struct RescaleNormalize {
  double scale = 1.0;   // Rescaling: x * scale + offset
  double offset = 0.0;
  Tensor mean;          // Normalization: (y - mean) / max(sqrt(variance), eps), per channel;
  Tensor variance;      // both undefined: no normalisation
  double eps = 1e-7;    // Keras's backend epsilon
};

// x: [..., C], uint8 or float, on any device. The result has x's float dtype, or for uint8
// pixels `float_dtype` (the network's), and is bit for bit what Rescaling then Normalization
// compute as separate ops. Differentiable in x (mean and variance must not require grad: they
// are statistics, not parameters), twice.
Tensor rescale_normalize(const Tensor& x, const RescaleNormalize& p,
                         DType float_dtype = DType::Float32);

}  // namespace ember
