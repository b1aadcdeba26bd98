// Contract for resampling kernels on NHWC activations (CPU: kernels/cpu/pool.cpp; CUDA:
// kernels/cuda/pool.cu). Matches torch.nn.functional.interpolate(mode="nearest") with integer
// scale factors, and its adjoint. `out` is preallocated and contiguous; x may have any strides. float32/float64.
// Tested through ops in tests/test_pool.cpp and tests/test_cuda_pool.cpp.
#pragma once
#include "tensor/tensor.h"

namespace ember::kernels {

// out [N, H*fh, W*fw, C][n, i, j, c] = x [N, H, W, C][n, i / fh, j / fw, c].
void upsample_nearest(const Tensor& out, const Tensor& x, int64_t factor_h, int64_t factor_w);
// out [N, H/fh, W/fw, C][n, i, j, c] = sum of x [N, H, W, C] over the fh x fw block at
// (i*fh, j*fw); H and W are multiples of the factors. The adjoint of upsample_nearest.
void downsample_sum(const Tensor& out, const Tensor& x, int64_t factor_h, int64_t factor_w);

namespace cpu {
void upsample_nearest(const Tensor& out, const Tensor& x, int64_t factor_h, int64_t factor_w);
void downsample_sum(const Tensor& out, const Tensor& x, int64_t factor_h, int64_t factor_w);
}  // namespace cpu

#ifdef EMBER_WITH_CUDA
namespace cuda {
void upsample_nearest(const Tensor& out, const Tensor& x, int64_t factor_h, int64_t factor_w);
void downsample_sum(const Tensor& out, const Tensor& x, int64_t factor_h, int64_t factor_w);
}  // namespace cuda
#endif

}  // namespace ember::kernels
