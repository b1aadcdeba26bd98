// Small NHWC helper kernels of the cuDNN convolution path (kernels/cuda/conv.cpp): zero-padding
// an input into a temporary for asymmetric padding, cropping the padded input gradient back,
// NHWC <-> NCHW layout changes (float64 runs cuDNN in NCHW, see kernels/cuda/conv.cpp), and the
// per-channel bias add. Grid-stride loops over the destination, so every output element is
// written exactly once (no separate zero fill). Tested through tests/test_cuda_conv.cpp.
#include "kernels/cuda/conv_cuda.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {

constexpr int kThreads = 256;

// dst: [N, Hp, Wp, C]; src: [N, H, W, C].
template <typename T>
__global__ void pad_kernel(T* dst, const T* src, long long total, long long Hp, long long Wp,
                           long long H, long long W, long long C, long long off_h,
                           long long off_w) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    const long long c = i % C;
    long long rest = i / C;
    const long long wp = rest % Wp;
    rest /= Wp;
    const long long hp = rest % Hp;
    const long long n = rest / Hp;
    const long long h = hp - off_h, w = wp - off_w;
    dst[i] = (h >= 0 && h < H && w >= 0 && w < W) ? src[((n * H + h) * W + w) * C + c] : T(0);
  }
}

// dst: [N, H, W, C]; src: [N, Hp, Wp, C].
template <typename T>
__global__ void crop_kernel(T* dst, const T* src, long long total, long long H, long long W,
                            long long Hp, long long Wp, long long C, long long off_h,
                            long long off_w) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    const long long c = i % C;
    long long rest = i / C;
    const long long w = rest % W;
    rest /= W;
    const long long h = rest % H;
    const long long n = rest / H;
    const long long hp = h + off_h, wp = w + off_w;
    dst[i] = (hp < Hp && wp < Wp) ? src[((n * Hp + hp) * Wp + wp) * C + c] : T(0);
  }
}

// dst: [d0, d1, d2, d3] contiguous; dst[i0, i1, i2, i3] = src[i0*s0 + i1*s1 + i2*s2 + i3*s3].
// Reads are strided, writes contiguous: these copies only serve float64, which is for checks.
template <typename T>
__global__ void permute4_kernel(T* dst, const T* src, long long total, long long d1, long long d2,
                                long long d3, long long s0, long long s1, long long s2,
                                long long s3) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    long long rest = i;
    const long long i3 = rest % d3;
    rest /= d3;
    const long long i2 = rest % d2;
    rest /= d2;
    const long long i1 = rest % d1;
    const long long i0 = rest / d1;
    dst[i] = src[i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3];
  }
}

// y: [total / K, K]; bias: [K].
template <typename T>
__global__ void bias_kernel(T* y, const T* bias, long long total, long long K) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x)
    y[i] += bias[i % K];
}

}  // namespace

void pad_nhwc(const Tensor& dst, const Tensor& src, int64_t off_h, int64_t off_w) {
  const long long total = dst.numel();
  if (total == 0) return;
  dispatch_float(dst.dtype(), "pad_nhwc", [&](auto tag) {
    using T = typename decltype(tag)::type;
    pad_kernel<T><<<::ember::cuda::grid_for(total, kThreads), kThreads, 0,
                    ::ember::cuda::compute_stream()>>>(
        static_cast<T*>(dst.raw_data()), static_cast<const T*>(src.raw_data()), total,
        dst.size(1), dst.size(2), src.size(1), src.size(2), src.size(3), off_h, off_w);
    EMBER_CUDA_CHECK_LAUNCH("pad_kernel");
  });
}

void crop_nhwc(const Tensor& dst, const Tensor& src, int64_t off_h, int64_t off_w) {
  const long long total = dst.numel();
  if (total == 0) return;
  dispatch_float(dst.dtype(), "crop_nhwc", [&](auto tag) {
    using T = typename decltype(tag)::type;
    crop_kernel<T><<<::ember::cuda::grid_for(total, kThreads), kThreads, 0,
                     ::ember::cuda::compute_stream()>>>(
        static_cast<T*>(dst.raw_data()), static_cast<const T*>(src.raw_data()), total,
        dst.size(1), dst.size(2), src.size(1), src.size(2), dst.size(3), off_h, off_w);
    EMBER_CUDA_CHECK_LAUNCH("crop_kernel");
  });
}

namespace {

// dst (contiguous, shape d) <- src read with strides s for dst's axes.
void permute4(const Tensor& dst, const Tensor& src, const int64_t (&s)[4], const char* name) {
  const long long total = dst.numel();
  if (total == 0) return;
  dispatch_float(dst.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    permute4_kernel<T><<<::ember::cuda::grid_for(total, kThreads), kThreads, 0,
                         ::ember::cuda::compute_stream()>>>(
        static_cast<T*>(dst.raw_data()), static_cast<const T*>(src.raw_data()), total,
        dst.size(1), dst.size(2), dst.size(3), s[0], s[1], s[2], s[3]);
    EMBER_CUDA_CHECK_LAUNCH("permute4_kernel");
  });
}

}  // namespace

void nhwc_to_nchw(const Tensor& dst, const Tensor& src) {
  const int64_t H = src.size(1), W = src.size(2), C = src.size(3);
  const int64_t strides[4] = {H * W * C, 1, W * C, C};  // src strides of (n, c, h, w)
  permute4(dst, src, strides, "nhwc_to_nchw");
}

void nchw_to_nhwc(const Tensor& dst, const Tensor& src) {
  const int64_t C = src.size(1), H = src.size(2), W = src.size(3);
  const int64_t strides[4] = {C * H * W, W, 1, H * W};  // src strides of (n, h, w, c)
  permute4(dst, src, strides, "nchw_to_nhwc");
}

void add_channel_bias(const Tensor& y, const Tensor& bias) {
  const long long total = y.numel();
  const long long K = bias.numel();
  if (total == 0 || K == 0) return;
  dispatch_float(y.dtype(), "add_channel_bias", [&](auto tag) {
    using T = typename decltype(tag)::type;
    bias_kernel<T><<<::ember::cuda::grid_for(total, kThreads), kThreads, 0,
                     ::ember::cuda::compute_stream()>>>(
        static_cast<T*>(y.raw_data()), static_cast<const T*>(bias.raw_data()), total, K);
    EMBER_CUDA_CHECK_LAUNCH("bias_kernel");
  });
}

}  // namespace ember::kernels::cuda
