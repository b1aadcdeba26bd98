// Pooling and resampling on NHWC activations. All support double backward.
#pragma once
#include "tensor/tensor.h"

namespace ember {

Tensor global_avg_pool(const Tensor& x);  // [N, H, W, C] -> [N, C]
Tensor global_sum_pool(const Tensor& x);  // [N, H, W, C] -> [N, C]
// Nearest-neighbour upsampling by integer factors: [N, H, W, C] -> [N, H*fh, W*fw, C].
Tensor upsample_nearest(const Tensor& x, int64_t factor_h, int64_t factor_w);
// Sums each fh x fw block: the adjoint (backward) of upsample_nearest.
Tensor downsample_sum(const Tensor& x, int64_t factor_h, int64_t factor_w);

}  // namespace ember
