// GPU side of tensor/copy.cpp: a strided copy with dtype conversion and a fill, each a
// grid-stride loop. Up to 8 dimensions; the source offset is rebuilt from the linear index by
// dividing by the destination shape (cheap next to the memory traffic).
#include <cuda_bf16.h>

#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"
#include "tensor/cuda_hooks.h"
#include "tensor/tensor.h"

namespace ember::cuda_hooks {

namespace {

constexpr int kMaxDims = 8;
struct StridedLayout {
  int ndim;
  long long shape[kMaxDims];
  long long dst_strides[kMaxDims];
  long long src_strides[kMaxDims];
};

template <typename T> struct DeviceType { using type = T; };
template <> struct DeviceType<bfloat16> { using type = __nv_bfloat16; };

template <typename To, typename From>
__device__ To device_convert(From v) {
  if constexpr (std::is_same_v<From, __nv_bfloat16>) return device_convert<To>(__bfloat162float(v));
  else if constexpr (std::is_same_v<To, __nv_bfloat16>) return __float2bfloat16_rn(static_cast<float>(v));
  else return static_cast<To>(v);
}

template <typename To, typename From>
__global__ void strided_copy_kernel(To* dst, const From* src, long long n, StridedLayout layout) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    long long rest = i, dst_off = 0, src_off = 0;
    for (int d = layout.ndim - 1; d >= 0; --d) {
      const long long idx = rest % layout.shape[d];
      rest /= layout.shape[d];
      dst_off += idx * layout.dst_strides[d];
      src_off += idx * layout.src_strides[d];
    }
    dst[dst_off] = device_convert<To>(src[src_off]);
  }
}

template <typename T>
__global__ void fill_kernel(T* dst, long long n, StridedLayout layout, T value) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    long long rest = i, off = 0;
    for (int d = layout.ndim - 1; d >= 0; --d) {
      off += (rest % layout.shape[d]) * layout.dst_strides[d];
      rest /= layout.shape[d];
    }
    dst[off] = value;
  }
}

StridedLayout layout_of(const Tensor& dst, const Tensor* src) {
  EMBER_CHECK(dst.dim() <= kMaxDims, "GPU copy supports up to ", kMaxDims, " dimensions, got ",
              dst.describe());
  StridedLayout layout{};
  layout.ndim = static_cast<int>(dst.dim());
  for (int d = 0; d < layout.ndim; ++d) {
    layout.shape[d] = dst.shape()[d];
    layout.dst_strides[d] = dst.strides()[d];
    layout.src_strides[d] = src ? src->strides()[d] : 0;
  }
  return layout;
}

}  // namespace

void copy_same_device(const Tensor& dst, const Tensor& src) {
  const long long n = dst.numel();
  if (n == 0) return;
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    EMBER_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), n * dtype_size(dst.dtype()),
                                     cudaMemcpyDeviceToDevice, cuda::compute_stream()));
    return;
  }
  const StridedLayout layout = layout_of(dst, &src);
  dispatch_all(dst.dtype(), [&](auto dst_tag) {
    using To = typename DeviceType<typename decltype(dst_tag)::type>::type;
    dispatch_all(src.dtype(), [&](auto src_tag) {
      using From = typename DeviceType<typename decltype(src_tag)::type>::type;
      strided_copy_kernel<To, From><<<cuda::grid_for(n), 256, 0, cuda::compute_stream()>>>(
          static_cast<To*>(dst.raw_data()), static_cast<const From*>(src.raw_data()), n, layout);
      EMBER_CUDA_CHECK_LAUNCH("strided_copy_kernel");
    });
  });
}

void fill(const Tensor& dst, double value) {
  const long long n = dst.numel();
  if (n == 0) return;
  const StridedLayout layout = layout_of(dst, nullptr);
  dispatch_all(dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using D = typename DeviceType<T>::type;
    const T host_value = convert_scalar<T>(value);
    D device_value;
    static_assert(sizeof(D) == sizeof(T));
    std::memcpy(&device_value, &host_value, sizeof(T));
    fill_kernel<D><<<cuda::grid_for(n), 256, 0, cuda::compute_stream()>>>(
        static_cast<D*>(dst.raw_data()), n, layout, device_value);
    EMBER_CUDA_CHECK_LAUNCH("fill_kernel");
  });
}

}  // namespace ember::cuda_hooks
