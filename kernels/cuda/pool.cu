// CUDA nearest-neighbour upsampling and block-sum downsampling on NHWC (contract:
// kernels/pool.h; reference: kernels/cpu/pool.cpp). One thread per output element, in a
// grid-stride loop over the contiguous output; x may have any strides. downsample_sum adds its
// fh x fw block in double in the CPU's order (rows of the block, then columns), so both kernels
// are bit-identical to the CPU. Tested in tests/test_cuda_pool.cpp.
#include <cstdint>

#include "kernels/pool.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {

constexpr int kThreads = 256;

// Output geometry [N, Ho, Wo, C] and x's strides (elements).
struct Resample {
  int64_t Ho, Wo, C;
  int64_t sx0, sx1, sx2, sx3;
  int64_t fh, fw;
};

// out [N, Ho, Wo, C][n, i, j, c] = x[n, i / fh, j / fw, c].
template <typename T>
__global__ void upsample_nearest_kernel(T* out, const T* x, Resample g, int64_t total) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total;
       e += (int64_t)gridDim.x * blockDim.x) {
    int64_t rest = e;
    const int64_t c = rest % g.C;
    rest /= g.C;
    const int64_t j = rest % g.Wo;
    rest /= g.Wo;
    const int64_t i = rest % g.Ho;
    const int64_t n = rest / g.Ho;
    out[e] = x[n * g.sx0 + (i / g.fh) * g.sx1 + (j / g.fw) * g.sx2 + c * g.sx3];
  }
}

// out [N, Ho, Wo, C][n, i, j, c] = sum over a < fh, b < fw of x[n, i*fh + a, j*fw + b, c].
template <typename T>
__global__ void downsample_sum_kernel(T* out, const T* x, Resample g, int64_t total) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total;
       e += (int64_t)gridDim.x * blockDim.x) {
    int64_t rest = e;
    const int64_t c = rest % g.C;
    rest /= g.C;
    const int64_t j = rest % g.Wo;
    rest /= g.Wo;
    const int64_t i = rest % g.Ho;
    const int64_t n = rest / g.Ho;
    const T* base = x + n * g.sx0 + i * g.fh * g.sx1 + j * g.fw * g.sx2 + c * g.sx3;
    double sum = 0;
    for (int64_t a = 0; a < g.fh; ++a)
      for (int64_t b = 0; b < g.fw; ++b) sum += static_cast<double>(base[a * g.sx1 + b * g.sx2]);
    out[e] = static_cast<T>(sum);
  }
}

Resample geometry(const Tensor& out, const Tensor& x, int64_t fh, int64_t fw) {
  const Shape& s = x.strides();
  return {out.shape()[1], out.shape()[2], out.shape()[3], s[0], s[1], s[2], s[3], fh, fw};
}

}  // namespace

void upsample_nearest(const Tensor& out, const Tensor& x, int64_t factor_h, int64_t factor_w) {
  const int64_t total = out.numel();
  if (total == 0) return;
  dispatch_float(x.dtype(), "upsample_nearest", [&](auto tag) {
    using T = typename decltype(tag)::type;
    upsample_nearest_kernel<T><<<::ember::cuda::grid_for(total, kThreads), kThreads, 0,
                                 ::ember::cuda::compute_stream()>>>(
        static_cast<T*>(out.raw_data()), static_cast<const T*>(x.raw_data()),
        geometry(out, x, factor_h, factor_w), total);
    EMBER_CUDA_CHECK_LAUNCH("upsample_nearest_kernel");
  });
}

void downsample_sum(const Tensor& out, const Tensor& x, int64_t factor_h, int64_t factor_w) {
  const int64_t total = out.numel();
  if (total == 0) return;
  dispatch_float(x.dtype(), "downsample_sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    downsample_sum_kernel<T><<<::ember::cuda::grid_for(total, kThreads), kThreads, 0,
                               ::ember::cuda::compute_stream()>>>(
        static_cast<T*>(out.raw_data()), static_cast<const T*>(x.raw_data()),
        geometry(out, x, factor_h, factor_w), total);
    EMBER_CUDA_CHECK_LAUNCH("downsample_sum_kernel");
  });
}

}  // namespace ember::kernels::cuda
