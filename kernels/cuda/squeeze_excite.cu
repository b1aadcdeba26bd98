// CUDA fused squeeze-and-excite (contract: kernels/squeeze_excite.h; reference:
// kernels/cpu/squeeze_excite.cpp, which computes the same sums of the same rounded values).
// One block per sample for the forward and for the input gradient: the block pools its sample,
// runs the two small matrix-vector products (a warp per reduced channel, lanes over channels,
// combined by a fixed-order butterfly) and writes the gated output, with __syncthreads() between
// the steps; the per-sample vectors pass through global memory (pooled, z1, gate, dz2, dz1), and
// the R silu values through shared memory. The weight gradients are a block per reduced channel
// j (a thread per channel k, the silu values of column j computed once per sample), each weight
// summing over the batch in sample order. Every sum is in double; the order depends only on the
// shapes, so results are bit-identical from run to run (equal to the CPU's up to the order of
// the double sums). Untuned: a thread per channel walks the positions, so narrow layers (C well
// below the block size) leave threads idle.
// Tested against the CPU in tests/test_cuda_squeeze_excite.cpp and tools/emulate_cuda.
#include <cstdint>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/elementwise_math.h"
#include "kernels/squeeze_excite.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"
#include "tensor/error.h"

namespace ember::kernels::cuda {

namespace {

using ::ember::cuda::compute_stream;
using Math = pointwise::CudaMath;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int64_t kMaxReduced = 1024;  // R, held in shared memory as doubles

struct Dims {
  int64_t n, p, c, r;
};

__device__ inline double sigmoid_d(double x) { return pointwise::sigmoid<Math>(x); }

// Lanes of a warp sum f(c) over c = lane, lane + 32, ... < count; every lane gets the total.
template <typename F>
__device__ inline double warp_sum(int64_t count, F f) {
  const int lane = threadIdx.x % 32;
  double acc = 0.0;
  for (int64_t c = lane; c < count; c += 32) acc += f(c);
  return warp_all_reduce(acc, PlusDouble{});
}

template <typename T>
__global__ void forward_kernel(Dims d, const T* h, T* y, T* pooled, T* z1, T* gate, const T* w1,
                               const T* b1, const T* w2, const T* b2) {
  __shared__ double a1[kMaxReduced];
  const int64_t n = blockIdx.x;
  const T* h_n = h + n * d.p * d.c;
  T* pooled_n = pooled + n * d.c;
  for (int64_t c = threadIdx.x; c < d.c; c += blockDim.x) {
    double acc = 0.0;
    for (int64_t p = 0; p < d.p; ++p) acc += static_cast<double>(h_n[p * d.c + c]);
    pooled_n[c] = static_cast<T>(acc / static_cast<double>(d.p));
  }
  __syncthreads();
  const int warp = threadIdx.x / 32;
  for (int64_t j = warp; j < d.r; j += kWarps) {
    const double z = static_cast<double>(b1[j]) + warp_sum(d.c, [&](int64_t c) {
      return static_cast<double>(w1[j * d.c + c]) * static_cast<double>(pooled_n[c]);
    });
    const T z_t = static_cast<T>(z);
    const double zr = static_cast<double>(z_t);
    if (threadIdx.x % 32 == 0) {
      z1[n * d.r + j] = z_t;
      a1[j] = zr * sigmoid_d(zr);
    }
  }
  __syncthreads();
  T* gate_n = gate + n * d.c;
  for (int64_t c = threadIdx.x; c < d.c; c += blockDim.x) {
    double z = static_cast<double>(b2[c]);
    for (int64_t j = 0; j < d.r; ++j) z += static_cast<double>(w2[c * d.r + j]) * a1[j];
    const T g = static_cast<T>(sigmoid_d(z));
    gate_n[c] = g;
    T* y_n = y + n * d.p * d.c;
    for (int64_t p = 0; p < d.p; ++p) y_n[p * d.c + c] = h_n[p * d.c + c] * g;
  }
}

template <typename T>
__global__ void backward_input_kernel(Dims d, const T* dy, const T* h, const T* z1,
                                      const T* gate, const T* w1, const T* w2, T* dh, T* dz2,
                                      T* dz1) {
  __shared__ double dz1_s[kMaxReduced];
  const int64_t n = blockIdx.x;
  const T* dy_n = dy + n * d.p * d.c;
  const T* h_n = h + n * d.p * d.c;
  const T* gate_n = gate + n * d.c;
  T* dz2_n = dz2 + n * d.c;
  for (int64_t c = threadIdx.x; c < d.c; c += blockDim.x) {
    double ds = 0.0;
    for (int64_t p = 0; p < d.p; ++p)
      ds += static_cast<double>(dy_n[p * d.c + c]) * static_cast<double>(h_n[p * d.c + c]);
    const double g = static_cast<double>(gate_n[c]);
    dz2_n[c] = static_cast<T>(ds * g * (1.0 - g));
  }
  __syncthreads();
  const int warp = threadIdx.x / 32;
  for (int64_t j = warp; j < d.r; j += kWarps) {
    const double da = warp_sum(d.c, [&](int64_t c) {
      return static_cast<double>(w2[c * d.r + j]) * static_cast<double>(dz2_n[c]);
    });
    const double z = static_cast<double>(z1[n * d.r + j]);
    const double s = sigmoid_d(z);
    const T g_t = static_cast<T>(da * s * (1.0 + z * (1.0 - s)));
    if (threadIdx.x % 32 == 0) {
      dz1[n * d.r + j] = g_t;
      dz1_s[j] = static_cast<double>(g_t);
    }
  }
  __syncthreads();
  T* dh_n = dh + n * d.p * d.c;
  for (int64_t c = threadIdx.x; c < d.c; c += blockDim.x) {
    double dp = 0.0;
    for (int64_t j = 0; j < d.r; ++j) dp += static_cast<double>(w1[j * d.c + c]) * dz1_s[j];
    const T spread = static_cast<T>(dp / static_cast<double>(d.p));
    const T g = gate_n[c];
    for (int64_t p = 0; p < d.p; ++p) dh_n[p * d.c + c] = dy_n[p * d.c + c] * g + spread;
  }
}

// Blocks 0..R-1: block j computes dw1[j, :], dw2[:, j] (a thread per channel k) and db1[j];
// the silu values a1[n, j] = z * sigmoid(z) it needs are computed once per sample into shared
// memory, a tile of samples at a time, instead of once per (k, n). Blocks R.. compute db2, a
// thread per channel. Every sum runs over the samples in order, as the CPU's does.
constexpr int64_t kSampleTile = 1024;  // doubles of a1 in shared memory per block

template <typename T>
__global__ void backward_weights_kernel(int64_t samples, int64_t r, int64_t c, const T* dz1,
                                        const T* dz2, const T* pooled, const T* z1, T* dw1,
                                        T* db1, T* dw2, T* db2) {
  if (blockIdx.x >= r) {
    const int64_t k = (blockIdx.x - r) * (int64_t)blockDim.x + threadIdx.x;
    if (k >= c) return;
    double s = 0.0;
    for (int64_t n = 0; n < samples; ++n) s += static_cast<double>(dz2[n * c + k]);
    db2[k] = static_cast<T>(s);
    return;
  }
  __shared__ double a1[kSampleTile];
  const int64_t j = blockIdx.x;
  // A thread keeps the sums of kPerThread channels in registers; wider layers take several
  // passes over the samples (recomputing a1, which is cheap next to the sums).
  constexpr int kPerThread = 16;
  const int64_t chunk = kPerThread * (int64_t)blockDim.x;
  double b = 0.0;
  for (int64_t k0 = 0; k0 < c; k0 += chunk) {
    double s1[kPerThread], s2[kPerThread];
    for (int q = 0; q < kPerThread; ++q) s1[q] = s2[q] = 0.0;
    for (int64_t n0 = 0; n0 < samples; n0 += kSampleTile) {
      const int64_t tile = samples - n0 < kSampleTile ? samples - n0 : kSampleTile;
      __syncthreads();  // the previous tile has been read
      for (int64_t t = threadIdx.x; t < tile; t += blockDim.x) {
        const double z = static_cast<double>(z1[(n0 + t) * r + j]);
        a1[t] = z * sigmoid_d(z);
      }
      __syncthreads();
      for (int q = 0; q < kPerThread; ++q) {
        const int64_t k = k0 + threadIdx.x + q * (int64_t)blockDim.x;
        if (k >= c) break;
        for (int64_t t = 0; t < tile; ++t) {
          const int64_t n = n0 + t;
          s1[q] += static_cast<double>(dz1[n * r + j]) * static_cast<double>(pooled[n * c + k]);
          s2[q] += static_cast<double>(dz2[n * c + k]) * a1[t];
        }
      }
      if (k0 == 0 && threadIdx.x == 0)
        for (int64_t t = 0; t < tile; ++t) b += static_cast<double>(dz1[(n0 + t) * r + j]);
    }
    for (int q = 0; q < kPerThread; ++q) {
      const int64_t k = k0 + threadIdx.x + q * (int64_t)blockDim.x;
      if (k >= c) break;
      dw1[j * c + k] = static_cast<T>(s1[q]);
      dw2[k * r + j] = static_cast<T>(s2[q]);
    }
  }
  if (threadIdx.x == 0) db1[j] = static_cast<T>(b);
}

Dims dims_of(const Tensor& h, const Tensor& w1) {
  const Dims d{h.size(0), h.size(1), h.size(2), w1.size(0)};
  EMBER_CHECK(d.r <= kMaxReduced, "squeeze_excite: at most ", kMaxReduced,
              " reduced channels on the GPU, got ", d.r);
  return d;
}

template <typename T>
const T* in(const Tensor& t) {
  return static_cast<const T*>(t.raw_data());
}
template <typename T>
T* out(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

}  // namespace

void squeeze_excite_forward(const Tensor& y, const Tensor& pooled, const Tensor& z1,
                            const Tensor& gate, const Tensor& h, const Tensor& w1,
                            const Tensor& b1, const Tensor& w2, const Tensor& b2) {
  const Dims d = dims_of(h, w1);
  if (d.n == 0) return;
  dispatch_float(h.dtype(), "squeeze_excite", [&](auto tag) {
    using T = typename decltype(tag)::type;
    forward_kernel<T><<<static_cast<unsigned>(d.n), kThreads, 0, compute_stream()>>>(
        d, in<T>(h), out<T>(y), out<T>(pooled), out<T>(z1), out<T>(gate), in<T>(w1), in<T>(b1),
        in<T>(w2), in<T>(b2));
    EMBER_CUDA_CHECK_LAUNCH("squeeze_excite forward_kernel");
  });
}

void squeeze_excite_backward_input(const Tensor& dh, const Tensor& dz2, const Tensor& dz1,
                                   const Tensor& dy, const Tensor& h, const Tensor& z1,
                                   const Tensor& gate, const Tensor& w1, const Tensor& w2) {
  const Dims d = dims_of(h, w1);
  if (d.n == 0) return;
  dispatch_float(h.dtype(), "squeeze_excite (input gradient)", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backward_input_kernel<T><<<static_cast<unsigned>(d.n), kThreads, 0, compute_stream()>>>(
        d, in<T>(dy), in<T>(h), in<T>(z1), in<T>(gate), in<T>(w1), in<T>(w2), out<T>(dh),
        out<T>(dz2), out<T>(dz1));
    EMBER_CUDA_CHECK_LAUNCH("squeeze_excite backward_input_kernel");
  });
}

void squeeze_excite_backward_weights(const Tensor& dw1, const Tensor& db1, const Tensor& dw2,
                                     const Tensor& db2, const Tensor& dz1, const Tensor& dz2,
                                     const Tensor& pooled, const Tensor& z1) {
  const int64_t samples = dz1.size(0), r = dz1.size(1), c = dz2.size(1);
  // With no samples the sums are empty: the blocks still write the zeros.
  const unsigned blocks = static_cast<unsigned>(r + (c + kThreads - 1) / kThreads);
  if (blocks == 0) return;
  dispatch_float(dz1.dtype(), "squeeze_excite (weight gradient)", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backward_weights_kernel<T><<<blocks, kThreads, 0,
                                 compute_stream()>>>(samples, r, c, in<T>(dz1), in<T>(dz2),
                                                     in<T>(pooled), in<T>(z1), out<T>(dw1),
                                                     out<T>(db1), out<T>(dw2), out<T>(db2));
    EMBER_CUDA_CHECK_LAUNCH("squeeze_excite backward_weights_kernel");
  });
}

}  // namespace ember::kernels::cuda
