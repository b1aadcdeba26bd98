// ember's own NHWC depthwise convolution (K == C == groups, filter w [C, R, S, 1]): forward,
// input gradient and weight gradient, any stride, asymmetric padding (pad_top / pad_left; P and
// Q come from the caller), float32/float64. Chosen over cuDNN when
// backend_settings().depthwise_impl == DepthwiseImpl::Ember (kernels/cuda/conv.cpp). Matches the
// CPU reference (kernels/cpu/conv.cpp) through tests/test_cuda_conv.cpp; bench/bench_conv_cuda.cpp
// compares it with cuDNN on EfficientNetB2's depthwise layers.
//
// These kernels are variant 2 (16-byte vectors) of the numbered history in
// kernels/cuda/dev/depthwise_conv_variants.cu, which keeps the scalar variant 1 and the tiled
// variant 3 beside a copy of them; the emulator's `depthwise_variants` family checks that copy
// bit for bit against this file, and bench/bench_depthwise_variants_cuda.cpp times all of them.
//
// Design (EfficientNetB2 at 64x64: C from 32 to 1248, 3x3 and 5x5, strides 1 and 2, spatial
// 32x32 down to 2x2, batch 64 / 256):
// - Threads run across channels, the fastest NHWC axis, so a warp's loads of x / dy and its
//   stores are contiguous; forward and input grad move 16 bytes (float4 / double2) per thread
//   when C and the alignment allow. The filter is first transposed to wt [R*S, C] (tiny) so the
//   weight loads are contiguous too.
// - Forward and input grad: one thread per output element, a gather over the R x S window in
//   fixed (r, s) order: deterministic, no atomics. The input grad inverts h = p*stride - pad + r
//   (p = (h + pad - r) / stride when that divides exactly and lands in [0, P)).
// - Weight grad is a reduction over N*P*Q for each of the C*R*S filter elements: pass 1 splits
//   the N*P*Q output pixels into fixed chunks (the split depends on the shape only) and sums
//   each chunk in order into partial [chunks, R*S, C]; pass 2 sums the chunks in order (in
//   double for float32). Same result on every run, whatever the GPU.
// - Index arithmetic is 32-bit when every tensor has fewer than 2^31 elements (the common case;
//   64-bit division is several times slower on the GPU), else 64-bit.
#include <algorithm>
#include <climits>
#include <cstdint>

#include "kernels/cuda/conv_cuda.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {

constexpr int kThreads = 256;

template <typename Index>
struct DwShape {
  Index N, H, W, C, R, S, P, Q, stride_h, stride_w, pad_top, pad_left;
};

template <typename Index>
DwShape<Index> shape_of(const Conv2dGeometry& g) {
  return {static_cast<Index>(g.N),        static_cast<Index>(g.H),
          static_cast<Index>(g.W),        static_cast<Index>(g.C),
          static_cast<Index>(g.R),        static_cast<Index>(g.S),
          static_cast<Index>(g.P),        static_cast<Index>(g.Q),
          static_cast<Index>(g.stride_h), static_cast<Index>(g.stride_w),
          static_cast<Index>(g.pad_top),  static_cast<Index>(g.pad_left)};
}

// True when 32-bit indices cannot overflow for this problem.
bool fits_int32(const Conv2dGeometry& g) {
  const int64_t x = g.N * g.H * g.W * g.C, y = g.N * g.P * g.Q * g.K;
  const int64_t span = std::max({g.H + g.pad_top + g.R, g.W + g.pad_left + g.S,
                                 g.P * g.stride_h + g.R, g.Q * g.stride_w + g.S});
  return std::max(x, y) < INT_MAX / 2 && span < INT_MAX / 2 && g.R * g.S * g.C < INT_MAX / 2;
}

// wt [RS, C] <- w [C, RS].
template <typename T>
__global__ void transpose_filter_kernel(T* wt, const T* w, long long C, long long RS) {
  const long long total = C * RS;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    const long long t = i / C, c = i % C;
    wt[i] = w[c * RS + t];
  }
}

// V consecutive channels moved as one aligned vector (16 bytes: float4 / double2 loads).
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// y [N, P, Q, C]; x [N, H, W, C]; wt [R*S, C]; bias [C] or nullptr. Each thread owns V
// consecutive channels of one output pixel (V divides C; pointers 16-byte aligned when V > 1).
// Per channel the sum runs in (r, s) order whatever V is, so V never changes the result.
template <typename T, int V, typename Index>
__global__ void dw_forward_kernel(T* __restrict__ y, const T* __restrict__ x,
                                  const T* __restrict__ wt, const T* __restrict__ bias,
                                  DwShape<Index> g, Index total_packs) {
  using Vec = Pack<T, V>;
  const Index CV = g.C / V;
  for (Index i = blockIdx.x * (Index)blockDim.x + threadIdx.x; i < total_packs;
       i += (Index)gridDim.x * blockDim.x) {
    const Index c = (i % CV) * V;
    Index rest = i / CV;  // the output pixel (n, p, q)
    const Index q = rest % g.Q;
    rest /= g.Q;
    const Index p = rest % g.P;
    const Index n = rest / g.P;
    const Index h0 = p * g.stride_h - g.pad_top, w0 = q * g.stride_w - g.pad_left;
    const T* xn = x + n * g.H * g.W * g.C + c;
    T acc[V];
#pragma unroll
    for (int k = 0; k < V; ++k) acc[k] = T(0);
    for (Index r = 0; r < g.R; ++r) {
      const Index h = h0 + r;
      if (h < 0 || h >= g.H) continue;
      for (Index s = 0; s < g.S; ++s) {
        const Index w = w0 + s;
        if (w < 0 || w >= g.W) continue;
        const Vec xv = *reinterpret_cast<const Vec*>(xn + (h * g.W + w) * g.C);
        const Vec wv = *reinterpret_cast<const Vec*>(wt + (r * g.S + s) * g.C + c);
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] += xv.v[k] * wv.v[k];
      }
    }
    Vec out;
#pragma unroll
    for (int k = 0; k < V; ++k) out.v[k] = bias ? acc[k] + bias[c + k] : acc[k];
    *reinterpret_cast<Vec*>(y + i * V) = out;  // pixel * C + c == i * V since C == CV * V
  }
}

// dx [N, H, W, C]; dy [N, P, Q, C]; wt [R*S, C]. Threads as in the forward kernel, over input
// pixels.
template <typename T, int V, typename Index>
__global__ void dw_input_grad_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                     const T* __restrict__ wt, DwShape<Index> g,
                                     Index total_packs) {
  using Vec = Pack<T, V>;
  const Index CV = g.C / V;
  for (Index i = blockIdx.x * (Index)blockDim.x + threadIdx.x; i < total_packs;
       i += (Index)gridDim.x * blockDim.x) {
    const Index c = (i % CV) * V;
    Index rest = i / CV;  // the input pixel (n, h, w)
    const Index w = rest % g.W;
    rest /= g.W;
    const Index h = rest % g.H;
    const Index n = rest / g.H;
    const T* dyn = dy + n * g.P * g.Q * g.C + c;
    T acc[V];
#pragma unroll
    for (int k = 0; k < V; ++k) acc[k] = T(0);
    for (Index r = 0; r < g.R; ++r) {
      const Index th = h + g.pad_top - r;  // = p * stride_h for the p that reads row h at tap r
      if (th < 0 || th % g.stride_h != 0) continue;
      const Index p = th / g.stride_h;
      if (p >= g.P) continue;
      for (Index s = 0; s < g.S; ++s) {
        const Index tw = w + g.pad_left - s;
        if (tw < 0 || tw % g.stride_w != 0) continue;
        const Index q = tw / g.stride_w;
        if (q >= g.Q) continue;
        const Vec dv = *reinterpret_cast<const Vec*>(dyn + (p * g.Q + q) * g.C);
        const Vec wv = *reinterpret_cast<const Vec*>(wt + (r * g.S + s) * g.C + c);
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] += dv.v[k] * wv.v[k];
      }
    }
    Vec out;
#pragma unroll
    for (int k = 0; k < V; ++k) out.v[k] = acc[k];
    *reinterpret_cast<Vec*>(dx + i * V) = out;
  }
}

// Pass 1 of the weight gradient. Block (bx, tap, chunk): channels blockIdx.x * blockDim.x + tx,
// taps blockIdx.y, blockIdx.y + gridDim.y, ...; output pixels [chunk * rows, (chunk+1) * rows)
// of the flattened N*P*Q, visited in order. partial: [chunks, R*S, C].
template <typename T, typename Index>
__global__ void dw_weight_grad_partial_kernel(T* __restrict__ partial, const T* __restrict__ x,
                                              const T* __restrict__ dy, DwShape<Index> g,
                                              Index rows_per_chunk) {
  const Index c = blockIdx.x * (Index)blockDim.x + threadIdx.x;
  if (c >= g.C) return;
  const Index RS = g.R * g.S;
  const Index npq = g.N * g.P * g.Q;
  const Index chunk = blockIdx.z;
  const Index begin = chunk * rows_per_chunk;
  const Index end = begin + rows_per_chunk < npq ? begin + rows_per_chunk : npq;
  for (Index t = blockIdx.y; t < RS; t += gridDim.y) {
    const Index r = t / g.S, s = t % g.S;
    // (n, p, q) of pixel `begin`, then stepped along with j (no division in the loop).
    Index q = begin % g.Q, p = (begin / g.Q) % g.P, n = begin / (g.Q * g.P);
    T acc = T(0);
    for (Index j = begin; j < end; ++j) {
      const Index h = p * g.stride_h - g.pad_top + r, w = q * g.stride_w - g.pad_left + s;
      if (h >= 0 && h < g.H && w >= 0 && w < g.W)
        acc += dy[j * g.C + c] * x[((n * g.H + h) * g.W + w) * g.C + c];
      if (++q == g.Q) {
        q = 0;
        if (++p == g.P) { p = 0; ++n; }
      }
    }
    partial[(chunk * RS + t) * g.C + c] = acc;
  }
}

template <typename T> struct SumType { using type = T; };
template <> struct SumType<float> { using type = double; };

// Pass 2: dw [C, R*S] = sum over chunks of partial [chunks, R*S, C], chunks in order.
template <typename T>
__global__ void dw_weight_grad_sum_kernel(T* __restrict__ dw, const T* __restrict__ partial,
                                          long long chunks, long long RS, long long C) {
  const long long total = RS * C;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    const long long t = i / C, c = i % C;
    typename SumType<T>::type acc = 0;
    for (long long k = 0; k < chunks; ++k) acc += partial[k * total + i];
    dw[c * RS + t] = static_cast<T>(acc);
  }
}

// The filter as wt [R*S, C] in a temporary (contiguous per tap across channels).
Tensor transposed_filter(const Tensor& w, const Conv2dGeometry& g) {
  Tensor wt = empty({g.R * g.S, g.C}, {w.dtype(), w.device()});
  const long long total = g.C * g.R * g.S;
  dispatch_float(w.dtype(), "depthwise_conv", [&](auto tag) {
    using T = typename decltype(tag)::type;
    transpose_filter_kernel<T><<<::ember::cuda::grid_for(total, kThreads), kThreads, 0,
                                 ::ember::cuda::compute_stream()>>>(
        static_cast<T*>(wt.raw_data()), static_cast<const T*>(w.raw_data()), g.C, g.R * g.S);
    EMBER_CUDA_CHECK_LAUNCH("transpose_filter_kernel");
  });
  return wt;
}

}  // namespace

namespace {

// Forward and input grad move V = 16 / sizeof(T) channels per thread when V divides C and every
// pointer is 16-byte aligned (a contiguous view may start at any element), else one.
bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

void depthwise_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias,
                       const Conv2dGeometry& geo) {
  const Tensor wt = transposed_filter(w, geo);
  cudaStream_t stream = ::ember::cuda::compute_stream();
  dispatch_float(y.dtype(), "depthwise_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kV = 16 / sizeof(T);
    T* py = static_cast<T*>(y.raw_data());
    const T* px = static_cast<const T*>(x.raw_data());
    const T* pw = static_cast<const T*>(wt.raw_data());
    const T* pb = bias.defined() ? static_cast<const T*>(bias.raw_data()) : nullptr;
    const bool vec = geo.C % kV == 0 && aligned16(py) && aligned16(px) && aligned16(pw);
    const long long packs = y.numel() / (vec ? kV : 1);
    const unsigned grid = ::ember::cuda::grid_for(packs, kThreads);
    const bool small = fits_int32(geo);
    if (vec && small)
      dw_forward_kernel<T, kV, int><<<grid, kThreads, 0, stream>>>(
          py, px, pw, pb, shape_of<int>(geo), static_cast<int>(packs));
    else if (vec)
      dw_forward_kernel<T, kV, long long><<<grid, kThreads, 0, stream>>>(
          py, px, pw, pb, shape_of<long long>(geo), packs);
    else if (small)
      dw_forward_kernel<T, 1, int><<<grid, kThreads, 0, stream>>>(
          py, px, pw, pb, shape_of<int>(geo), static_cast<int>(packs));
    else
      dw_forward_kernel<T, 1, long long><<<grid, kThreads, 0, stream>>>(
          py, px, pw, pb, shape_of<long long>(geo), packs);
    EMBER_CUDA_CHECK_LAUNCH("dw_forward_kernel");
  });
}

void depthwise_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w,
                          const Conv2dGeometry& geo) {
  const Tensor wt = transposed_filter(w, geo);
  cudaStream_t stream = ::ember::cuda::compute_stream();
  dispatch_float(dx.dtype(), "depthwise_input_grad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kV = 16 / sizeof(T);
    T* pdx = static_cast<T*>(dx.raw_data());
    const T* pdy = static_cast<const T*>(dy.raw_data());
    const T* pw = static_cast<const T*>(wt.raw_data());
    const bool vec = geo.C % kV == 0 && aligned16(pdx) && aligned16(pdy) && aligned16(pw);
    const long long packs = dx.numel() / (vec ? kV : 1);
    const unsigned grid = ::ember::cuda::grid_for(packs, kThreads);
    const bool small = fits_int32(geo);
    if (vec && small)
      dw_input_grad_kernel<T, kV, int><<<grid, kThreads, 0, stream>>>(
          pdx, pdy, pw, shape_of<int>(geo), static_cast<int>(packs));
    else if (vec)
      dw_input_grad_kernel<T, kV, long long><<<grid, kThreads, 0, stream>>>(
          pdx, pdy, pw, shape_of<long long>(geo), packs);
    else if (small)
      dw_input_grad_kernel<T, 1, int><<<grid, kThreads, 0, stream>>>(
          pdx, pdy, pw, shape_of<int>(geo), static_cast<int>(packs));
    else
      dw_input_grad_kernel<T, 1, long long><<<grid, kThreads, 0, stream>>>(
          pdx, pdy, pw, shape_of<long long>(geo), packs);
    EMBER_CUDA_CHECK_LAUNCH("dw_input_grad_kernel");
  });
}

void depthwise_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy,
                           const Conv2dGeometry& geo) {
  const int64_t npq = geo.N * geo.P * geo.Q;
  const int64_t RS = geo.R * geo.S;
  // The chunking depends on the shape only (so the summation order, hence the result, is fixed):
  // at most 1024 chunks of at least 32 pixels, and the partials capped at 2^26 elements.
  const int64_t max_chunks =
      std::clamp<int64_t>((int64_t{1} << 26) / std::max<int64_t>(RS * geo.C, 1), 1, 1024);
  const int64_t rows = std::max<int64_t>({32, (npq + max_chunks - 1) / max_chunks});
  const int64_t chunks = (npq + rows - 1) / rows;  // <= max_chunks <= 1024 (grid.z limit 65535)
  Tensor partial = empty({chunks, RS, geo.C}, {dw.dtype(), dw.device()});

  const int block = static_cast<int>(std::min<int64_t>(kThreads, (geo.C + 31) / 32 * 32));
  const dim3 grid(static_cast<unsigned>((geo.C + block - 1) / block),
                  static_cast<unsigned>(std::min<int64_t>(RS, 65535)),
                  static_cast<unsigned>(chunks));
  cudaStream_t stream = ::ember::cuda::compute_stream();
  dispatch_float(dw.dtype(), "depthwise_weight_grad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* pp = static_cast<T*>(partial.raw_data());
    const T* px = static_cast<const T*>(x.raw_data());
    const T* pdy = static_cast<const T*>(dy.raw_data());
    if (fits_int32(geo))
      dw_weight_grad_partial_kernel<T, int><<<grid, block, 0, stream>>>(
          pp, px, pdy, shape_of<int>(geo), static_cast<int>(rows));
    else
      dw_weight_grad_partial_kernel<T, long long><<<grid, block, 0, stream>>>(
          pp, px, pdy, shape_of<long long>(geo), rows);
    EMBER_CUDA_CHECK_LAUNCH("dw_weight_grad_partial_kernel");
    const long long total = RS * geo.C;
    dw_weight_grad_sum_kernel<T><<<::ember::cuda::grid_for(total, kThreads), kThreads, 0,
                                   stream>>>(static_cast<T*>(dw.raw_data()), pp, chunks, RS,
                                             geo.C);
    EMBER_CUDA_CHECK_LAUNCH("dw_weight_grad_sum_kernel");
  });
}

}  // namespace ember::kernels::cuda
