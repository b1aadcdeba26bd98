// Warp and block all-reductions shared by kernels/cuda/reduce.cu and kernels/cuda/activation.cu.
// Fixed order: a butterfly (xor) shuffle inside each warp, then warp 0's lanes combine the
// per-warp results in warp order. The order depends only on blockDim, never on timing, so the
// result is bitwise reproducible. With a commutative combine every lane ends with the same value
// (a + b == b + a exactly in IEEE arithmetic), so every thread of the block gets the result.
#pragma once
#include <cuda_runtime.h>

namespace ember::kernels::cuda {

constexpr unsigned kFullMask = 0xffffffffu;

template <typename T>
__device__ __forceinline__ T shfl_xor(T v, int mask) {
  return __shfl_xor_sync(kFullMask, v, mask);
}

// (value, index) pair for argmax; index kNoIndex marks "no candidate yet" (only NaNs seen).
template <typename T>
struct ArgBest {
  T value;
  long long index;
};
constexpr long long kNoIndex = 0x7fffffffffffffffLL;

template <typename T>
__device__ __forceinline__ ArgBest<T> shfl_xor(ArgBest<T> v, int mask) {
  return {__shfl_xor_sync(kFullMask, v.value, mask), __shfl_xor_sync(kFullMask, v.index, mask)};
}

template <typename T, typename Combine>
__device__ __forceinline__ T warp_all_reduce(T v, Combine combine) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v = combine(v, shfl_xor(v, offset));
  return v;
}

// std::max(m, v) as the CPU references call it: v replaces m only when m < v, so a NaN v is
// skipped (softmax and cross-entropy maxima).
struct MaxKeepFirst {
  template <typename T>
  __device__ __forceinline__ T operator()(T m, T v) const { return m < v ? v : m; }
};
struct PlusDouble {
  __device__ __forceinline__ double operator()(double a, double b) const { return a + b; }
};

// Every thread of the block calls this (blockDim.x a multiple of 32, at most 1024) and gets the
// block's result. shared: 32 slots of T. Safe to call repeatedly with the same `shared`.
template <typename T, typename Combine>
__device__ __forceinline__ T block_all_reduce(T v, Combine combine, T identity, T* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int warps = blockDim.x / 32;
  v = warp_all_reduce(v, combine);
  if (warps == 1) return v;
  __syncthreads();  // a previous call may still be reading `shared`
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : identity;
  return warp_all_reduce(v, combine);
}

}  // namespace ember::kernels::cuda
