// GPU side of tensor/copy.cpp (declared in tensor/cuda/copy.h): a copy with dtype conversion
// between two tensors of one device, and a fill. Every GPU zeros(), contiguous(), to(dtype) and
// zero_grad() ends here, so the common cases take a fast path:
// - copy, same dtype, both contiguous: cudaMemcpyAsync;
// - copy, both contiguous, another dtype: a flat loop, no index math;
// - fill of contiguous memory with a value whose bytes are all zero: cudaMemsetAsync;
//   with any other value: a flat loop;
// - anything strided: the OffsetCalculator (kernels/cuda/offset_calculator.h), which merges
//   the dimensions the operands walk contiguously, so a transposed matrix or a sliced batch
//   costs two or three divisions per element, not one per dimension.
// bfloat16 is converted bit by bit exactly as the CPU's ember::bfloat16 does (tensor/dtype.h:
// round to nearest even, NaN stays a quiet NaN), so CPU and GPU copies agree in every bit.
// tools/emulate_cuda runs this file on the CPU (check_copy.cpp); tests/test_cuda_shape.cpp on a
// GPU.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cuda/offset_calculator.h"
#include "tensor/cuda/copy.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"
#include "tensor/tensor.h"

namespace ember::cuda {

namespace {

using kernels::cuda::make_offset_calculator;
using kernels::cuda::OffsetCalculator;

constexpr int kThreads = 256;

// ember::bfloat16 as the kernels see it: its 16 bits.
struct Bf16 {
  uint16_t bits;
};

template <typename T> struct DeviceType { using type = T; };
template <> struct DeviceType<bfloat16> { using type = Bf16; };

__host__ __device__ inline float bf16_to_float(Bf16 v) {
  const uint32_t u = static_cast<uint32_t>(v.bits) << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

__host__ __device__ inline Bf16 float_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return Bf16{static_cast<uint16_t>((u >> 16) | 0x0040u)};
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return Bf16{static_cast<uint16_t>((u + rounding) >> 16)};
}

// convert_scalar (tensor/dtype.h) on the device: bfloat16 goes through float both ways.
template <typename To, typename From>
__host__ __device__ inline To convert_element(From v) {
  if constexpr (std::is_same_v<From, Bf16>) return convert_element<To>(bf16_to_float(v));
  else if constexpr (std::is_same_v<To, Bf16>) return float_to_bf16(static_cast<float>(v));
  else return static_cast<To>(v);
}

template <typename To, typename From>
__global__ void contiguous_copy_kernel(To* dst, const From* src, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    dst[i] = convert_element<To>(src[i]);
}

// Operand 0 of calc is dst, operand 1 src.
template <typename To, typename From>
__global__ void strided_copy_kernel(To* dst, const From* src, long long n,
                                    OffsetCalculator<2> calc) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    int64_t off[2];
    calc.offsets(i, off);
    dst[off[0]] = convert_element<To>(src[off[1]]);
  }
}

template <typename T>
__global__ void contiguous_fill_kernel(T* dst, long long n, T value) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    dst[i] = value;
}

template <typename T>
__global__ void strided_fill_kernel(T* dst, long long n, OffsetCalculator<1> calc, T value) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    int64_t off[1];
    calc.offsets(i, off);
    dst[off[0]] = value;
  }
}

template <typename T>
bool all_bytes_zero(const T& value) {
  unsigned char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  for (unsigned char b : bytes)
    if (b != 0) return false;
  return true;
}

}  // namespace

void copy_tensor(const Tensor& dst, const Tensor& src) {
  EMBER_CHECK(dst.shape() == src.shape(), "GPU copy: ", dst.describe(), " from ", src.describe());
  const long long n = dst.numel();
  if (n == 0) return;
  const DeviceGuard on_device(dst.device().index);
  cudaStream_t stream = compute_stream(dst.device().index);
  const bool contiguous = dst.is_contiguous() && src.is_contiguous();
  if (contiguous && dst.dtype() == src.dtype()) {
    EMBER_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), n * dtype_size(dst.dtype()),
                                     cudaMemcpyDeviceToDevice, stream));
    return;
  }
  dispatch_all(dst.dtype(), [&](auto dst_tag) {
    using To = typename DeviceType<typename decltype(dst_tag)::type>::type;
    dispatch_all(src.dtype(), [&](auto src_tag) {
      using From = typename DeviceType<typename decltype(src_tag)::type>::type;
      To* out = static_cast<To*>(dst.raw_data());
      const From* in = static_cast<const From*>(src.raw_data());
      if (contiguous) {
        contiguous_copy_kernel<To, From><<<grid_for(n, kThreads), kThreads, 0, stream>>>(out, in, n);
        EMBER_CUDA_CHECK_LAUNCH("contiguous_copy_kernel");
        return;
      }
      const OffsetCalculator<2> calc =
          make_offset_calculator<2>(dst.shape(), {dst.strides(), src.strides()});
      strided_copy_kernel<To, From><<<grid_for(n, kThreads), kThreads, 0, stream>>>(out, in, n,
                                                                                      calc);
      EMBER_CUDA_CHECK_LAUNCH("strided_copy_kernel");
    });
  });
}

void fill_tensor(const Tensor& dst, double value) {
  const long long n = dst.numel();
  if (n == 0) return;
  const DeviceGuard on_device(dst.device().index);
  cudaStream_t stream = compute_stream(dst.device().index);
  dispatch_all(dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using D = typename DeviceType<T>::type;
    const T host_value = convert_scalar<T>(value);
    static_assert(sizeof(D) == sizeof(T));
    D device_value;
    std::memcpy(&device_value, &host_value, sizeof(T));
    D* out = static_cast<D*>(dst.raw_data());
    if (dst.is_contiguous()) {
      if (all_bytes_zero(host_value)) {  // zeros() and zero_grad(): no kernel at all
        EMBER_CUDA_CHECK(cudaMemsetAsync(out, 0, n * sizeof(T), stream));
        return;
      }
      contiguous_fill_kernel<D><<<grid_for(n, kThreads), kThreads, 0, stream>>>(out, n,
                                                                                device_value);
      EMBER_CUDA_CHECK_LAUNCH("contiguous_fill_kernel");
      return;
    }
    const OffsetCalculator<1> calc = make_offset_calculator<1>(dst.shape(), {dst.strides()});
    strided_fill_kernel<D><<<grid_for(n, kThreads), kThreads, 0, stream>>>(out, n, calc,
                                                                           device_value);
    EMBER_CUDA_CHECK_LAUNCH("strided_fill_kernel");
  });
}

}  // namespace ember::cuda
