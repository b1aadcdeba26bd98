// The depthwise convolution's CUDA kernels as numbered variants, kept side by side as the history
// of their tuning (the layout of llm.c's dev/cuda/<op>.cu): each variant says what it changes
// and why, each is checked against the CPU reference (kernels/cpu/conv.cpp, grouped conv2d with
// groups == C) in the CUDA emulator (`tools/emulate_cuda/run.sh build-cpu depthwise_variants`),
// and each is timed against cuDNN's depthwise on EfficientNetB2's layers by
// bench/bench_depthwise_variants_cuda.cpp. Declarations: depthwise_conv_variants.h.
//
// Why kernels/cuda/dev/: beside the production file whose history it is, but outside the
// library's source glob (kernels/cuda/*.cu is not recursive), so nothing here reaches libember;
// the bench program compiles this file itself and the emulator transforms it like the others.
//
// Contract of every variant: as kernels/cuda/conv_cuda.h's depthwise_* (NHWC, w [C, R, S, 1],
// any stride, asymmetric padding, float32/float64). Every variant sums each output over the
// R x S window in (r, s) order, so on the same hardware they give bit-identical results: a
// variant may change how the work is spread over threads, never the arithmetic.
//
// Variant 1 (commit 1cb453f, the first version): one thread per output element, a grid-stride
//   loop over the flattened NHWC output, channels fastest so a warp's loads of x / dy and its
//   stores are contiguous; the filter transposed to wt [R*S, C] first so the weight loads are
//   contiguous too. Simple and coalesced, but each thread moves 4 (8) bytes per load.
// Variant 2 (commit 114ff95, PRODUCTION: kernels/cuda/depthwise_conv.cu): as variant 1, but each
//   thread owns V = 16 / sizeof(T) consecutive channels and moves them as one 16-byte load /
//   store (float4 / double2), when V divides C and every pointer is 16-byte aligned (else the
//   V = 1 kernel, which is variant 1). Fewer, wider memory instructions and V times fewer
//   index divisions per output; EfficientNetB2's channel counts are all multiples of 4.
// Variant 3 (new, not chosen): as variant 2, plus a tile of kTile = 4 consecutive output columns
//   (forward) or input columns (input grad) per thread: each filter tap is loaded once into
//   registers and used for the 4 pixels, and the pixel's index arithmetic is done once per tile.
//   The cost is 4 times fewer threads, and idle tile slots where Q (W) is not a multiple of 4
//   (EfficientNetB2 goes down to 2x2). Not measured yet (no GPU at hand when it was written):
//   it replaces variant 2 in production only with the measurement in the commit message.
// Weight gradient: one kernel pair for every variant (tuning has not touched it yet): pass 1
//   sums fixed chunks of the N*P*Q output pixels per (tap, channel) into partials, pass 2 sums
//   the partials in chunk order (in double for float32): deterministic whatever the GPU.
//
// Chosen: variant 2, in production since commit 114ff95 (same results as variant 1, fewer and
// wider memory instructions). That commit recorded no timing; bench_depthwise_variants_cuda is
// where the numbers for all three come from, and a change of the chosen variant cites them.
//
// Adding a variant: write its kernels below under a "Variant N" banner (a comment saying what it
// changes and why), add a case to the launchers at the end, raise kDepthwiseVariants in the
// header; the emulator family and the bench loop over every variant, so both pick it up.
#include <algorithm>
#include <climits>
#include <cstdint>

#include "kernels/cuda/dev/depthwise_conv_variants.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda::dev {

namespace {

constexpr int kThreads = 256;

// ---- Shared by all variants (as in the production file) ----

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

// True when 32-bit indices cannot overflow for this problem (64-bit division is several times
// slower on the GPU).
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

// V consecutive channels moved as one aligned vector (16 bytes: float4 / double2 loads).
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// ---- Variant 1: one thread per output element ----

// y [N, P, Q, C]; x [N, H, W, C]; wt [R*S, C]; bias [C] or nullptr.
template <typename T, typename Index>
__global__ void v1_forward_kernel(T* __restrict__ y, const T* __restrict__ x,
                                  const T* __restrict__ wt, const T* __restrict__ bias,
                                  DwShape<Index> g, Index total) {
  for (Index i = blockIdx.x * (Index)blockDim.x + threadIdx.x; i < total;
       i += (Index)gridDim.x * blockDim.x) {
    const Index c = i % g.C;
    Index rest = i / g.C;  // the output pixel (n, p, q)
    const Index q = rest % g.Q;
    rest /= g.Q;
    const Index p = rest % g.P;
    const Index n = rest / g.P;
    const Index h0 = p * g.stride_h - g.pad_top, w0 = q * g.stride_w - g.pad_left;
    const T* xn = x + n * g.H * g.W * g.C + c;
    T acc = T(0);
    for (Index r = 0; r < g.R; ++r) {
      const Index h = h0 + r;
      if (h < 0 || h >= g.H) continue;
      for (Index s = 0; s < g.S; ++s) {
        const Index w = w0 + s;
        if (w < 0 || w >= g.W) continue;
        acc += xn[(h * g.W + w) * g.C] * wt[(r * g.S + s) * g.C + c];
      }
    }
    y[i] = bias ? acc + bias[c] : acc;
  }
}

// dx [N, H, W, C]; dy [N, P, Q, C]; wt [R*S, C]. The input grad inverts h = p*stride - pad + r:
// p = (h + pad - r) / stride when that divides exactly and lands in [0, P).
template <typename T, typename Index>
__global__ void v1_input_grad_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                     const T* __restrict__ wt, DwShape<Index> g, Index total) {
  for (Index i = blockIdx.x * (Index)blockDim.x + threadIdx.x; i < total;
       i += (Index)gridDim.x * blockDim.x) {
    const Index c = i % g.C;
    Index rest = i / g.C;  // the input pixel (n, h, w)
    const Index w = rest % g.W;
    rest /= g.W;
    const Index h = rest % g.H;
    const Index n = rest / g.H;
    const T* dyn = dy + n * g.P * g.Q * g.C + c;
    T acc = T(0);
    for (Index r = 0; r < g.R; ++r) {
      const Index th = h + g.pad_top - r;
      if (th < 0 || th % g.stride_h != 0) continue;
      const Index p = th / g.stride_h;
      if (p >= g.P) continue;
      for (Index s = 0; s < g.S; ++s) {
        const Index tw = w + g.pad_left - s;
        if (tw < 0 || tw % g.stride_w != 0) continue;
        const Index q = tw / g.stride_w;
        if (q >= g.Q) continue;
        acc += dyn[(p * g.Q + q) * g.C] * wt[(r * g.S + s) * g.C + c];
      }
    }
    dx[i] = acc;
  }
}

// ---- Variant 2 (production): V = 16 / sizeof(T) channels per thread, 16-byte accesses ----

// As v1_forward_kernel, each thread owning channels [c, c + V) of one output pixel (V divides
// C; pointers 16-byte aligned when V > 1). Per channel the sum still runs in (r, s) order.
template <typename T, int V, typename Index>
__global__ void v2_forward_kernel(T* __restrict__ y, const T* __restrict__ x,
                                  const T* __restrict__ wt, const T* __restrict__ bias,
                                  DwShape<Index> g, Index total_packs) {
  using Vec = Pack<T, V>;
  const Index CV = g.C / V;
  for (Index i = blockIdx.x * (Index)blockDim.x + threadIdx.x; i < total_packs;
       i += (Index)gridDim.x * blockDim.x) {
    const Index c = (i % CV) * V;
    Index rest = i / CV;
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

template <typename T, int V, typename Index>
__global__ void v2_input_grad_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                     const T* __restrict__ wt, DwShape<Index> g,
                                     Index total_packs) {
  using Vec = Pack<T, V>;
  const Index CV = g.C / V;
  for (Index i = blockIdx.x * (Index)blockDim.x + threadIdx.x; i < total_packs;
       i += (Index)gridDim.x * blockDim.x) {
    const Index c = (i % CV) * V;
    Index rest = i / CV;
    const Index w = rest % g.W;
    rest /= g.W;
    const Index h = rest % g.H;
    const Index n = rest / g.H;
    const T* dyn = dy + n * g.P * g.Q * g.C + c;
    T acc[V];
#pragma unroll
    for (int k = 0; k < V; ++k) acc[k] = T(0);
    for (Index r = 0; r < g.R; ++r) {
      const Index th = h + g.pad_top - r;
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

// ---- Variant 3: variant 2 plus kTile consecutive pixels of one row per thread ----

constexpr int kTile = 4;

// Work item i: channels [c, c + V) (fastest, so a warp stays contiguous in memory), output
// columns [q0, q0 + kTile) of row p of image n; QT = ceil(Q / kTile) tiles per row. The filter
// tap wv is loaded once per (r, s) and used for the tile's kTile outputs; each output still sums
// its taps in (r, s) order.
template <typename T, int V, typename Index>
__global__ void v3_forward_kernel(T* __restrict__ y, const T* __restrict__ x,
                                  const T* __restrict__ wt, const T* __restrict__ bias,
                                  DwShape<Index> g, Index QT, Index total_items) {
  using Vec = Pack<T, V>;
  const Index CV = g.C / V;
  for (Index i = blockIdx.x * (Index)blockDim.x + threadIdx.x; i < total_items;
       i += (Index)gridDim.x * blockDim.x) {
    const Index c = (i % CV) * V;
    Index rest = i / CV;
    const Index q0 = (rest % QT) * kTile;
    rest /= QT;
    const Index p = rest % g.P;
    const Index n = rest / g.P;
    const Index h0 = p * g.stride_h - g.pad_top;
    const T* xn = x + n * g.H * g.W * g.C + c;
    T acc[kTile][V];
#pragma unroll
    for (int t = 0; t < kTile; ++t)
#pragma unroll
      for (int k = 0; k < V; ++k) acc[t][k] = T(0);
    for (Index r = 0; r < g.R; ++r) {
      const Index h = h0 + r;
      if (h < 0 || h >= g.H) continue;
      const T* xrow = xn + h * g.W * g.C;
      for (Index s = 0; s < g.S; ++s) {
        const Vec wv = *reinterpret_cast<const Vec*>(wt + (r * g.S + s) * g.C + c);
#pragma unroll
        for (int t = 0; t < kTile; ++t) {
          const Index q = q0 + t, w = q * g.stride_w - g.pad_left + s;
          if (q >= g.Q || w < 0 || w >= g.W) continue;
          const Vec xv = *reinterpret_cast<const Vec*>(xrow + w * g.C);
#pragma unroll
          for (int k = 0; k < V; ++k) acc[t][k] += xv.v[k] * wv.v[k];
        }
      }
    }
    T* yrow = y + ((n * g.P + p) * g.Q) * g.C + c;
#pragma unroll
    for (int t = 0; t < kTile; ++t) {
      if (q0 + t >= g.Q) break;
      Vec out;
#pragma unroll
      for (int k = 0; k < V; ++k) out.v[k] = bias ? acc[t][k] + bias[c + k] : acc[t][k];
      *reinterpret_cast<Vec*>(yrow + (q0 + t) * g.C) = out;
    }
  }
}

// Work item i: channels [c, c + V), input columns [w0, w0 + kTile) of row h of image n; WT =
// ceil(W / kTile). Filter taps loaded once per (r, s) as in the forward kernel.
template <typename T, int V, typename Index>
__global__ void v3_input_grad_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                     const T* __restrict__ wt, DwShape<Index> g, Index WT,
                                     Index total_items) {
  using Vec = Pack<T, V>;
  const Index CV = g.C / V;
  for (Index i = blockIdx.x * (Index)blockDim.x + threadIdx.x; i < total_items;
       i += (Index)gridDim.x * blockDim.x) {
    const Index c = (i % CV) * V;
    Index rest = i / CV;
    const Index w0 = (rest % WT) * kTile;
    rest /= WT;
    const Index h = rest % g.H;
    const Index n = rest / g.H;
    const T* dyn = dy + n * g.P * g.Q * g.C + c;
    T acc[kTile][V];
#pragma unroll
    for (int t = 0; t < kTile; ++t)
#pragma unroll
      for (int k = 0; k < V; ++k) acc[t][k] = T(0);
    for (Index r = 0; r < g.R; ++r) {
      const Index th = h + g.pad_top - r;
      if (th < 0 || th % g.stride_h != 0) continue;
      const Index p = th / g.stride_h;
      if (p >= g.P) continue;
      const T* dyrow = dyn + p * g.Q * g.C;
      for (Index s = 0; s < g.S; ++s) {
        const Vec wv = *reinterpret_cast<const Vec*>(wt + (r * g.S + s) * g.C + c);
#pragma unroll
        for (int t = 0; t < kTile; ++t) {
          const Index tw = w0 + t + g.pad_left - s;
          if (w0 + t >= g.W || tw < 0 || tw % g.stride_w != 0) continue;
          const Index q = tw / g.stride_w;
          if (q >= g.Q) continue;
          const Vec dv = *reinterpret_cast<const Vec*>(dyrow + q * g.C);
#pragma unroll
          for (int k = 0; k < V; ++k) acc[t][k] += dv.v[k] * wv.v[k];
        }
      }
    }
    T* dxrow = dx + ((n * g.H + h) * g.W) * g.C + c;
#pragma unroll
    for (int t = 0; t < kTile; ++t) {
      if (w0 + t >= g.W) break;
      Vec out;
#pragma unroll
      for (int k = 0; k < V; ++k) out.v[k] = acc[t][k];
      *reinterpret_cast<Vec*>(dxrow + (w0 + t) * g.C) = out;
    }
  }
}

// ---- Weight gradient (every variant) ----

// Pass 1. Block (bx, tap, chunk): channels blockIdx.x * blockDim.x + tx, taps blockIdx.y,
// blockIdx.y + gridDim.y, ...; output pixels [chunk * rows, (chunk+1) * rows) of the flattened
// N*P*Q, visited in order. partial: [chunks, R*S, C].
template <typename T, typename Index>
__global__ void weight_grad_partial_kernel(T* __restrict__ partial, const T* __restrict__ x,
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
__global__ void weight_grad_sum_kernel(T* __restrict__ dw, const T* __restrict__ partial,
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

void check_variant(int variant) {
  EMBER_CHECK(variant >= 1 && variant <= kDepthwiseVariants, "depthwise variant ", variant,
              " does not exist (1 to ", kDepthwiseVariants, ")");
}

}  // namespace

const char* depthwise_variant_summary(int variant) {
  check_variant(variant);
  static const char* const summaries[] = {
      "", "scalar: one thread per output element",
      "16-byte vectors: V = 16 / sizeof(T) channels per thread (production)",
      "16-byte vectors and a 4-pixel tile per thread, filter taps reused from registers"};
  return summaries[variant];
}

void depthwise_forward_variant(int variant, const Tensor& y, const Tensor& x, const Tensor& w,
                               const Tensor& bias, const Conv2dGeometry& geo) {
  check_variant(variant);
  const Tensor wt = transposed_filter(w, geo);
  cudaStream_t stream = ::ember::cuda::compute_stream();
  dispatch_float(y.dtype(), "depthwise_forward_variant", [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kV = 16 / sizeof(T);
    T* py = static_cast<T*>(y.raw_data());
    const T* px = static_cast<const T*>(x.raw_data());
    const T* pw = static_cast<const T*>(wt.raw_data());
    const T* pb = bias.defined() ? static_cast<const T*>(bias.raw_data()) : nullptr;
    const bool small = fits_int32(geo);
    // Variants 2 and 3 fall back to one channel per thread (V = 1) where C or the alignment
    // refuses 16-byte accesses.
    const bool vec = variant > 1 && geo.C % kV == 0 && aligned16(py) && aligned16(px) &&
                     aligned16(pw);
    const int V = vec ? kV : 1;
    if (variant <= 2) {
      const long long packs = y.numel() / V;
      const unsigned grid = ::ember::cuda::grid_for(packs, kThreads);
      if (variant == 1 && small)
        v1_forward_kernel<T, int><<<grid, kThreads, 0, stream>>>(
            py, px, pw, pb, shape_of<int>(geo), static_cast<int>(packs));
      else if (variant == 1)
        v1_forward_kernel<T, long long><<<grid, kThreads, 0, stream>>>(
            py, px, pw, pb, shape_of<long long>(geo), packs);
      else if (vec && small)
        v2_forward_kernel<T, kV, int><<<grid, kThreads, 0, stream>>>(
            py, px, pw, pb, shape_of<int>(geo), static_cast<int>(packs));
      else if (vec)
        v2_forward_kernel<T, kV, long long><<<grid, kThreads, 0, stream>>>(
            py, px, pw, pb, shape_of<long long>(geo), packs);
      else if (small)
        v2_forward_kernel<T, 1, int><<<grid, kThreads, 0, stream>>>(
            py, px, pw, pb, shape_of<int>(geo), static_cast<int>(packs));
      else
        v2_forward_kernel<T, 1, long long><<<grid, kThreads, 0, stream>>>(
            py, px, pw, pb, shape_of<long long>(geo), packs);
    } else {
      const long long QT = (geo.Q + kTile - 1) / kTile;
      const long long items = geo.N * geo.P * QT * (geo.C / V);
      const unsigned grid = ::ember::cuda::grid_for(items, kThreads);
      if (vec && small)
        v3_forward_kernel<T, kV, int><<<grid, kThreads, 0, stream>>>(
            py, px, pw, pb, shape_of<int>(geo), static_cast<int>(QT), static_cast<int>(items));
      else if (vec)
        v3_forward_kernel<T, kV, long long><<<grid, kThreads, 0, stream>>>(
            py, px, pw, pb, shape_of<long long>(geo), QT, items);
      else if (small)
        v3_forward_kernel<T, 1, int><<<grid, kThreads, 0, stream>>>(
            py, px, pw, pb, shape_of<int>(geo), static_cast<int>(QT), static_cast<int>(items));
      else
        v3_forward_kernel<T, 1, long long><<<grid, kThreads, 0, stream>>>(
            py, px, pw, pb, shape_of<long long>(geo), QT, items);
    }
    EMBER_CUDA_CHECK_LAUNCH("depthwise forward variant");
  });
}

void depthwise_input_grad_variant(int variant, const Tensor& dx, const Tensor& dy,
                                  const Tensor& w, const Conv2dGeometry& geo) {
  check_variant(variant);
  const Tensor wt = transposed_filter(w, geo);
  cudaStream_t stream = ::ember::cuda::compute_stream();
  dispatch_float(dx.dtype(), "depthwise_input_grad_variant", [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kV = 16 / sizeof(T);
    T* pdx = static_cast<T*>(dx.raw_data());
    const T* pdy = static_cast<const T*>(dy.raw_data());
    const T* pw = static_cast<const T*>(wt.raw_data());
    const bool small = fits_int32(geo);
    const bool vec = variant > 1 && geo.C % kV == 0 && aligned16(pdx) && aligned16(pdy) &&
                     aligned16(pw);
    const int V = vec ? kV : 1;
    if (variant <= 2) {
      const long long packs = dx.numel() / V;
      const unsigned grid = ::ember::cuda::grid_for(packs, kThreads);
      if (variant == 1 && small)
        v1_input_grad_kernel<T, int><<<grid, kThreads, 0, stream>>>(
            pdx, pdy, pw, shape_of<int>(geo), static_cast<int>(packs));
      else if (variant == 1)
        v1_input_grad_kernel<T, long long><<<grid, kThreads, 0, stream>>>(
            pdx, pdy, pw, shape_of<long long>(geo), packs);
      else if (vec && small)
        v2_input_grad_kernel<T, kV, int><<<grid, kThreads, 0, stream>>>(
            pdx, pdy, pw, shape_of<int>(geo), static_cast<int>(packs));
      else if (vec)
        v2_input_grad_kernel<T, kV, long long><<<grid, kThreads, 0, stream>>>(
            pdx, pdy, pw, shape_of<long long>(geo), packs);
      else if (small)
        v2_input_grad_kernel<T, 1, int><<<grid, kThreads, 0, stream>>>(
            pdx, pdy, pw, shape_of<int>(geo), static_cast<int>(packs));
      else
        v2_input_grad_kernel<T, 1, long long><<<grid, kThreads, 0, stream>>>(
            pdx, pdy, pw, shape_of<long long>(geo), packs);
    } else {
      const long long WT = (geo.W + kTile - 1) / kTile;
      const long long items = geo.N * geo.H * WT * (geo.C / V);
      const unsigned grid = ::ember::cuda::grid_for(items, kThreads);
      if (vec && small)
        v3_input_grad_kernel<T, kV, int><<<grid, kThreads, 0, stream>>>(
            pdx, pdy, pw, shape_of<int>(geo), static_cast<int>(WT), static_cast<int>(items));
      else if (vec)
        v3_input_grad_kernel<T, kV, long long><<<grid, kThreads, 0, stream>>>(
            pdx, pdy, pw, shape_of<long long>(geo), WT, items);
      else if (small)
        v3_input_grad_kernel<T, 1, int><<<grid, kThreads, 0, stream>>>(
            pdx, pdy, pw, shape_of<int>(geo), static_cast<int>(WT), static_cast<int>(items));
      else
        v3_input_grad_kernel<T, 1, long long><<<grid, kThreads, 0, stream>>>(
            pdx, pdy, pw, shape_of<long long>(geo), WT, items);
    }
    EMBER_CUDA_CHECK_LAUNCH("depthwise input grad variant");
  });
}

void depthwise_weight_grad_variant(int variant, const Tensor& dw, const Tensor& x,
                                   const Tensor& dy, const Conv2dGeometry& geo) {
  check_variant(variant);
  const int64_t npq = geo.N * geo.P * geo.Q;
  const int64_t RS = geo.R * geo.S;
  // The chunking depends on the shape only (so the summation order, hence the result, is fixed):
  // at most 1024 chunks of at least 32 pixels, and the partials capped at 2^26 elements.
  const int64_t max_chunks =
      std::clamp<int64_t>((int64_t{1} << 26) / std::max<int64_t>(RS * geo.C, 1), 1, 1024);
  const int64_t rows = std::max<int64_t>({32, (npq + max_chunks - 1) / max_chunks});
  const int64_t chunks = (npq + rows - 1) / rows;
  Tensor partial = empty({chunks, RS, geo.C}, {dw.dtype(), dw.device()});
  const int block = static_cast<int>(std::min<int64_t>(kThreads, (geo.C + 31) / 32 * 32));
  const dim3 grid(static_cast<unsigned>((geo.C + block - 1) / block),
                  static_cast<unsigned>(std::min<int64_t>(RS, 65535)),
                  static_cast<unsigned>(chunks));
  cudaStream_t stream = ::ember::cuda::compute_stream();
  dispatch_float(dw.dtype(), "depthwise_weight_grad_variant", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* pp = static_cast<T*>(partial.raw_data());
    const T* px = static_cast<const T*>(x.raw_data());
    const T* pdy = static_cast<const T*>(dy.raw_data());
    if (fits_int32(geo))
      weight_grad_partial_kernel<T, int><<<grid, block, 0, stream>>>(
          pp, px, pdy, shape_of<int>(geo), static_cast<int>(rows));
    else
      weight_grad_partial_kernel<T, long long><<<grid, block, 0, stream>>>(
          pp, px, pdy, shape_of<long long>(geo), rows);
    EMBER_CUDA_CHECK_LAUNCH("weight_grad_partial_kernel");
    const long long total = RS * geo.C;
    weight_grad_sum_kernel<T><<<::ember::cuda::grid_for(total, kThreads), kThreads, 0, stream>>>(
        static_cast<T*>(dw.raw_data()), pp, chunks, RS, geo.C);
    EMBER_CUDA_CHECK_LAUNCH("weight_grad_sum_kernel");
  });
}

}  // namespace ember::kernels::cuda::dev
