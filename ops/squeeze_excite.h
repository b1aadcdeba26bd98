// Squeeze-and-excite as one op: EfficientNet's per-sample channel gate,
//   y = h * sigmoid(conv_expand(silu(conv_reduce(mean over H, W of h))))
// with 1x1 convolutions (with bias) on the pooled [N, 1, 1, C] map, in one kernel dispatch
// forward and two backward (kernels/squeeze_excite.h; derivation in docs/squeeze_excite.md),
// where the same block built of separate ops takes about 20. No double backward:
// differentiating through its backward again is a clear error.
#pragma once
#include "tensor/tensor.h"

namespace ember {

// h [N, H, W, C] (NHWC, H * W > 0); w_reduce [R, 1, 1, C] and b_reduce [R] (the reduce conv,
// ember's [out, kh, kw, in] layout); w_expand [C, 1, 1, R] and b_expand [C]. One dtype (float32
// or float64) and one device.
Tensor squeeze_excite(const Tensor& h, const Tensor& w_reduce, const Tensor& b_reduce,
                      const Tensor& w_expand, const Tensor& b_expand);

}  // namespace ember
