// CUDA softmax and log_softmax along any axis, matching the CPU reference
// (kernels/cpu/activation.cpp) formula for formula: m = max of the slice (NaN never taken, as
// std::max), s = sum of exp(double(x - m)) in double, softmax = T(exp(double(x - m)) / s as
// exp * (1 / s)), log_softmax = x - m - T(log s).
//
// Paths (docs/cuda_kernels.md):
//   * the axis is contiguous in x and out (the usual last axis): one warp per slice when it is
//     at most kWarpMax long, else one block per slice; fixed-order shuffle trees for m and s.
//   * any other axis: one thread per slice runs the CPU's sequential loops; neighbouring slices
//     are neighbouring in memory when the axis is not innermost, so reads stay coalesced.
// Tested against the CPU in tests/test_cuda_activation.cpp (skipped without a GPU).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/activation.h"
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/offset_calculator.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {

constexpr int kThreads = 256;
constexpr long long kWarpMax = 1024;

template <bool kLog, typename T>
__device__ __forceinline__ T softmax_value(T x, T m, double inv_total, T log_total) {
  if constexpr (kLog) return x - m - log_total;
  else return static_cast<T>(::exp(static_cast<double>(x - m)) * inv_total);
}

// Rows along a contiguous axis. x, out: `rows` slices of n elements, slice j starting at
// x + off[0], out + off[1] of outer.offsets(j). Warp w of the block owns slice
// blockIdx.x * warps + w.
template <bool kLog, typename T>
__global__ void softmax_warp_kernel(const T* x, T* out, long long rows, long long n,
                                    OffsetCalculator<2> outer) {
  const long long row = blockIdx.x * (long long)(blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;  // whole warps leave together
  const int lane = threadIdx.x % 32;
  int64_t off[2];
  outer.offsets(row, off);
  const T* xr = x + off[0];
  T* yr = out + off[1];
  T m = -INFINITY;
  for (long long i = lane; i < n; i += 32) m = MaxKeepFirst{}(m, xr[i]);
  m = warp_all_reduce(m, MaxKeepFirst{});
  double total = 0;
  for (long long i = lane; i < n; i += 32) total += ::exp(static_cast<double>(xr[i] - m));
  total = warp_all_reduce(total, PlusDouble{});
  const double inv_total = 1.0 / total;
  const T log_total = static_cast<T>(::log(total));
  for (long long i = lane; i < n; i += 32) yr[i] = softmax_value<kLog>(xr[i], m, inv_total, log_total);
}

// Same with one block per slice (grid-stride over slices) for long rows.
template <bool kLog, typename T>
__global__ void softmax_block_kernel(const T* x, T* out, long long rows, long long n,
                                     OffsetCalculator<2> outer) {
  __shared__ T shared_max[32];
  __shared__ double shared_sum[32];
  for (long long row = blockIdx.x; row < rows; row += gridDim.x) {
    int64_t off[2];
    outer.offsets(row, off);
    const T* xr = x + off[0];
    T* yr = out + off[1];
    T m = -INFINITY;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) m = MaxKeepFirst{}(m, xr[i]);
    m = block_all_reduce(m, MaxKeepFirst{}, T(-INFINITY), shared_max);
    double total = 0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x)
      total += ::exp(static_cast<double>(xr[i] - m));
    total = block_all_reduce(total, PlusDouble{}, 0.0, shared_sum);
    const double inv_total = 1.0 / total;
    const T log_total = static_cast<T>(::log(total));
    for (long long i = threadIdx.x; i < n; i += blockDim.x)
      yr[i] = softmax_value<kLog>(xr[i], m, inv_total, log_total);
    // The next slice's first block_all_reduce starts with __syncthreads, protecting `shared_*`.
  }
}

// Any axis: thread per slice, elements xs (x) and ys (out) apart, sequential like the CPU.
template <bool kLog, typename T>
__global__ void softmax_strided_kernel(const T* x, T* out, long long rows, long long n, int64_t xs,
                                       int64_t ys, OffsetCalculator<2> outer) {
  for (long long row = blockIdx.x * (long long)blockDim.x + threadIdx.x; row < rows;
       row += (long long)gridDim.x * blockDim.x) {
    int64_t off[2];
    outer.offsets(row, off);
    const T* xr = x + off[0];
    T* yr = out + off[1];
    T m = -INFINITY;
    for (long long i = 0; i < n; ++i) m = MaxKeepFirst{}(m, xr[i * xs]);
    double total = 0;
    for (long long i = 0; i < n; ++i) total += ::exp(static_cast<double>(xr[i * xs] - m));
    const double inv_total = 1.0 / total;
    const T log_total = static_cast<T>(::log(total));
    for (long long i = 0; i < n; ++i) yr[i * ys] = softmax_value<kLog>(xr[i * xs], m, inv_total, log_total);
  }
}

template <bool kLog>
void softmax_impl(const Tensor& out, const Tensor& x, int64_t axis, const char* op) {
  EMBER_CHECK(out.shape() == x.shape(), op, ": out ", out.describe(), " must have x's shape ",
              x.describe());
  const long long n = x.shape()[axis];
  const long long rows = n == 0 ? 0 : x.numel() / n;
  if (rows == 0) return;
  Shape outer_shape = x.shape();
  outer_shape[axis] = 1;
  const OffsetCalculator<2> outer =
      make_offset_calculator<2>(outer_shape, {x.strides(), out.strides()});
  const int64_t xs = x.strides()[axis], ys = out.strides()[axis];
  cudaStream_t stream = ::ember::cuda::compute_stream();
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.raw_data());
    T* py = static_cast<T*>(out.raw_data());
    if ((xs == 1 && ys == 1) || n == 1) {
      if (n <= kWarpMax) {
        const unsigned blocks = static_cast<unsigned>((rows + kThreads / 32 - 1) / (kThreads / 32));
        softmax_warp_kernel<kLog, T><<<blocks, kThreads, 0, stream>>>(px, py, rows, n, outer);
        EMBER_CUDA_CHECK_LAUNCH("softmax_warp_kernel");
      } else {
        const unsigned blocks = static_cast<unsigned>(std::min(rows, 1LL << 30));
        softmax_block_kernel<kLog, T><<<blocks, kThreads, 0, stream>>>(px, py, rows, n, outer);
        EMBER_CUDA_CHECK_LAUNCH("softmax_block_kernel");
      }
      return;
    }
    softmax_strided_kernel<kLog, T><<<::ember::cuda::grid_for(rows, kThreads), kThreads, 0,
                                      stream>>>(px, py, rows, n, xs, ys, outer);
    EMBER_CUDA_CHECK_LAUNCH("softmax_strided_kernel");
  });
}

}  // namespace

void softmax(const Tensor& out, const Tensor& x, int64_t axis) {
  softmax_impl<false>(out, x, axis, "softmax");
}

void log_softmax(const Tensor& out, const Tensor& x, int64_t axis) {
  softmax_impl<true>(out, x, axis, "log_softmax");
}

}  // namespace ember::kernels::cuda
