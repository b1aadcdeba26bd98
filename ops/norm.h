// Normalisation layers on NHWC activations.
#pragma once
#include "tensor/tensor.h"

namespace ember {

// An activation batch_norm applies to its normalised output in the same kernels:
// y = act(z), z the batch norm. Swish is y = z * sigmoid(z) (silu), EfficientNet's BN + swish.
enum class BatchNormActivation { None, Swish };

struct BatchNormOptions {
  bool training = true;
  // Keras convention: running = momentum * running + (1 - momentum) * batch statistic.
  double momentum = 0.99;
  double eps = 1e-3;
  // Keras updates the running variance with the biased batch variance; PyTorch with the
  // unbiased one (n / (n - 1)). Normalisation always uses the biased variance.
  bool unbiased_running_var = false;
  BatchNormActivation activation = BatchNormActivation::None;
};

// Per-channel (last axis) batch normalisation over all other axes, then options.activation.
// weight/bias [C] may be undefined (then 1 and 0). In training, batch statistics are used and
// running_mean / running_var (if defined) are updated in place; in inference the running
// statistics are used.
// Training: one kernel dispatch forward (statistics, normalisation, activation, running update)
// and one backward (through the activation and the normalisation at once, recomputing z from
// x), which has no double backward (differentiating through it again is a clear error).
// Inference is an affine map and supports double backward: with swish it is silu of the
// affine map, one fused dispatch when nothing needs a gradient.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var,
                  const BatchNormOptions& options);

// Normalises over the last `normalized_ndim` axes per leading index; weight/bias have the
// shape of those axes (or are undefined). Supports double backward; without create_graph the
// backward uses a fused kernel.
Tensor layer_norm(const Tensor& x, int64_t normalized_ndim, const Tensor& weight,
                  const Tensor& bias, double eps = 1e-5);

}  // namespace ember
