// Small NHWC helper kernels of the cuDNN convolution path (kernels/cuda/conv.cpp): zero-padding
// an input into a temporary for asymmetric padding, cropping the padded input gradient back, and
// the per-channel bias add. Grid-stride loops over the destination, so every output element is
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
