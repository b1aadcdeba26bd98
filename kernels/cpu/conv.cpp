// CPU reference for 2-D convolutions (contract: kernels/conv.h). Matches the naive 7-loop
// definition written out in tests/test_conv.cpp (forward, input grad, weight grad), and
// bench/bench_conv_cpu.cpp times it.
//
// Three strategies, chosen from the geometry:
// - pointwise (1x1 filter, stride 1, no padding): x already is the GEMM operand, one GEMM per
//   group over the whole batch;
// - depthwise-like (C / groups == 1, so each output channel reads a single input channel, with
//   K / groups output channels per input channel): direct loops over the window, vectorised
//   along the channels;
// - everything else: im2col per group into a column matrix col [rows, R*S*Cg] (rows = images
//   of one chunk x P x Q, columns ordered (r, s, c) like a KRSC filter row), then
//     forward  y_g  [rows, Kg]   = col  [rows, RSCg] * w_g^T [RSCg, Kg]
//     dgrad    dcol [rows, RSCg] = dy_g [rows, Kg]   * w_g   [Kg, RSCg],  then col2im
//     wgrad    dw_g [Kg, RSCg]  += dy_g^T [Kg, rows] * col  [rows, RSCg]
//   col2im is written as a gather (each dx pixel sums the column entries that read it), so it
//   parallelises over pixels with a fixed summation order.
// GEMMs are OpenBLAS, single-threaded, split over OpenMP threads along M or N (kernels/cpu/blas.h),
// never along the reduction dimension. OpenMP loops write disjoint outputs or reduce
// in a fixed order, so every kernel here gives bit-identical results from run to run.
// Precision::BFloat16 (kernels/precision.h) is the definition itself: the float32 kernel on
// operands rounded to bfloat16 (kernels/cpu/bf16_round.h), its result rounded too.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/conv.h"
#include "kernels/cpu/bf16_round.h"
#include "kernels/cpu/blas.h"
#include "kernels/cpu/scratch.h"

namespace ember::kernels::cpu {

namespace {

using Geo = Conv2dGeometry;

// The column buffer of one im2col chunk holds at most this many elements (64 MiB of float32):
// the batch is processed in chunks of whole images so that large batches do not blow memory.
constexpr int64_t kColumnBudget = int64_t{1} << 24;
// Loops with less work than this (in multiply-adds or copied elements) run on one thread: waking
// the OpenMP team costs more than it saves on the tiny shapes of gradient checks.
constexpr int64_t kParallelWork = int64_t{1} << 15;

// C [M, N] = alpha * op(A) * op(B) + beta * C, row-major (kernels/cpu/blas.h: OpenBLAS calls
// threaded by OpenMP).
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_rowmajor(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

bool is_pointwise(const Geo& g) {
  return g.R == 1 && g.S == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
         g.pad_left == 0 && g.P == g.H && g.Q == g.W;
}
bool is_depthwise_like(const Geo& g) { return g.c_per_group() == 1; }

// Images per im2col chunk.
int64_t images_per_chunk(const Geo& g) {
  const int64_t per_image = g.P * g.Q * g.R * g.S * g.c_per_group();
  return std::clamp<int64_t>(kColumnBudget / std::max<int64_t>(per_image, 1), 1, g.N);
}

// col [nb * P * Q, R * S * Cg] <- the windows of images [n0, n0 + nb), channels of group `grp`.
// x: [N, H, W, C].
template <typename T>
void im2col(const T* x, T* col, const Geo& g, int64_t n0, int64_t nb, int64_t grp) {
  const int64_t Cg = g.c_per_group(), row_len = g.R * g.S * Cg;
#pragma omp parallel for schedule(static) if (nb * g.P * g.Q * row_len > kParallelWork)
  for (int64_t np = 0; np < nb * g.P; ++np) {
    const int64_t n = n0 + np / g.P, p = np % g.P;
    for (int64_t q = 0; q < g.Q; ++q) {
      T* dst = col + (np * g.Q + q) * row_len;
      for (int64_t r = 0; r < g.R; ++r) {
        const int64_t h = p * g.stride_h - g.pad_top + r;
        for (int64_t s = 0; s < g.S; ++s, dst += Cg) {
          const int64_t w = q * g.stride_w - g.pad_left + s;
          if (h < 0 || h >= g.H || w < 0 || w >= g.W) {
            std::fill(dst, dst + Cg, T(0));
          } else {
            const T* src = x + ((n * g.H + h) * g.W + w) * g.C + grp * Cg;
            std::copy(src, src + Cg, dst);
          }
        }
      }
    }
  }
}

// dx[n0 .. n0 + nb), channels of group `grp` <- the sum of the col entries that read each pixel.
// col: [nb * P * Q, R * S * Cg]; dx: [N, H, W, C]. Assigns (does not accumulate into dx).
template <typename T>
void col2im(const T* col, T* dx, const Geo& g, int64_t n0, int64_t nb, int64_t grp) {
  const int64_t Cg = g.c_per_group(), row_len = g.R * g.S * Cg;
#pragma omp parallel for schedule(static) if (nb * g.P * g.Q * row_len > kParallelWork)
  for (int64_t nh = 0; nh < nb * g.H; ++nh) {
    const int64_t n_local = nh / g.H, h = nh % g.H;
    for (int64_t w = 0; w < g.W; ++w) {
      T* dst = dx + (((n0 + n_local) * g.H + h) * g.W + w) * g.C + grp * Cg;
      std::fill(dst, dst + Cg, T(0));
      for (int64_t r = 0; r < g.R; ++r) {
        const int64_t ph = h + g.pad_top - r;  // = p * stride_h when output row p reads row h
        if (ph < 0 || ph % g.stride_h != 0 || ph / g.stride_h >= g.P) continue;
        const int64_t p = ph / g.stride_h;
        for (int64_t s = 0; s < g.S; ++s) {
          const int64_t qw = w + g.pad_left - s;
          if (qw < 0 || qw % g.stride_w != 0 || qw / g.stride_w >= g.Q) continue;
          const int64_t q = qw / g.stride_w;
          const T* src = col + ((n_local * g.P + p) * g.Q + q) * row_len + (r * g.S + s) * Cg;
          for (int64_t c = 0; c < Cg; ++c) dst[c] += src[c];
        }
      }
    }
  }
}

// Sets every row of y [rows, K] to bias [K], or to zero when bias is null.
template <typename T>
void fill_rows(T* y, int64_t rows, int64_t K, const T* bias) {
#pragma omp parallel for schedule(static) if (rows * K > kParallelWork)
  for (int64_t i = 0; i < rows; ++i) {
    if (bias) std::copy(bias, bias + K, y + i * K);
    else std::fill(y + i * K, y + (i + 1) * K, T(0));
  }
}

// w [K, R, S, 1] -> wt [R, S, K], so that depthwise loops run along contiguous channels.
template <typename T>
std::vector<T> filter_rs_major(const T* w, const Geo& g) {
  std::vector<T> wt(g.R * g.S * g.K);
  for (int64_t k = 0; k < g.K; ++k)
    for (int64_t rs = 0; rs < g.R * g.S; ++rs) wt[rs * g.K + k] = w[k * g.R * g.S + rs];
  return wt;
}

// ---- forward ----

template <typename T>
void forward_typed(T* y, const T* x, const T* w, const T* bias, const Geo& g) {
  // y: [N, P, Q, K]; x: [N, H, W, C]; w: [K, R, S, Cg]; bias: [K] or null.
  const int64_t Cg = g.c_per_group(), Kg = g.k_per_group(), row_len = g.R * g.S * Cg;
  if (is_depthwise_like(g)) {
    // y[n, p, q, k] = bias[k] + sum_{r, s} x[n, h, w, k / m] * w[k, r, s], m = K / C.
    const int64_t m = Kg;
    const std::vector<T> wt = filter_rs_major(w, g);
#pragma omp parallel for schedule(static) if (g.N * g.P * g.Q * g.K * g.R * g.S > kParallelWork)
    for (int64_t np = 0; np < g.N * g.P; ++np) {
      const int64_t n = np / g.P, p = np % g.P;
      for (int64_t q = 0; q < g.Q; ++q) {
        T* out = y + (np * g.Q + q) * g.K;
        if (bias) std::copy(bias, bias + g.K, out);
        else std::fill(out, out + g.K, T(0));
        for (int64_t r = 0; r < g.R; ++r) {
          const int64_t h = p * g.stride_h - g.pad_top + r;
          if (h < 0 || h >= g.H) continue;
          for (int64_t s = 0; s < g.S; ++s) {
            const int64_t wi = q * g.stride_w - g.pad_left + s;
            if (wi < 0 || wi >= g.W) continue;
            const T* in = x + ((n * g.H + h) * g.W + wi) * g.C;
            const T* f = wt.data() + (r * g.S + s) * g.K;
            if (m == 1) for (int64_t k = 0; k < g.K; ++k) out[k] += in[k] * f[k];
            else for (int64_t k = 0; k < g.K; ++k) out[k] += in[k / m] * f[k];
          }
        }
      }
    }
    return;
  }
  const T beta = bias ? T(1) : T(0);
  if (bias) fill_rows(y, g.N * g.P * g.Q, g.K, bias);
  if (is_pointwise(g)) {
    for (int64_t grp = 0; grp < g.groups; ++grp)
      gemm(false, true, g.N * g.H * g.W, Kg, Cg, T(1), x + grp * Cg, g.C, w + grp * Kg * Cg, Cg,
           beta, y + grp * Kg, g.K);
    return;
  }
  const int64_t nb_max = images_per_chunk(g);
  Scratch<T> col(nb_max * g.P * g.Q * row_len);  // im2col / the GEMM (beta 0) write all of it
  for (int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.N - n0), rows = nb * g.P * g.Q;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      im2col(x, col.data(), g, n0, nb, grp);
      gemm(false, true, rows, Kg, row_len, T(1), col.data(), row_len, w + grp * Kg * row_len,
           row_len, beta, y + n0 * g.P * g.Q * g.K + grp * Kg, g.K);
    }
  }
}

// ---- input grad ----

template <typename T>
void input_grad_typed(T* dx, const T* dy, const T* w, const Geo& g) {
  // dx: [N, H, W, C]; dy: [N, P, Q, K]; w: [K, R, S, Cg].
  const int64_t Cg = g.c_per_group(), Kg = g.k_per_group(), row_len = g.R * g.S * Cg;
  if (is_depthwise_like(g)) {
    // dx[n, h, w, c] = sum over (r, s) reaching an output pixel, and k with k / m == c, of
    // dy[n, p, q, k] * w[k, r, s]. A gather: each dx pixel is written by one iteration.
    const int64_t m = Kg;
    const std::vector<T> wt = filter_rs_major(w, g);
#pragma omp parallel for schedule(static) if (g.N * g.P * g.Q * g.K * g.R * g.S > kParallelWork)
    for (int64_t nh = 0; nh < g.N * g.H; ++nh) {
      const int64_t n = nh / g.H, h = nh % g.H;
      for (int64_t wi = 0; wi < g.W; ++wi) {
        T* out = dx + (nh * g.W + wi) * g.C;
        std::fill(out, out + g.C, T(0));
        for (int64_t r = 0; r < g.R; ++r) {
          const int64_t ph = h + g.pad_top - r;
          if (ph < 0 || ph % g.stride_h != 0 || ph / g.stride_h >= g.P) continue;
          const int64_t p = ph / g.stride_h;
          for (int64_t s = 0; s < g.S; ++s) {
            const int64_t qw = wi + g.pad_left - s;
            if (qw < 0 || qw % g.stride_w != 0 || qw / g.stride_w >= g.Q) continue;
            const int64_t q = qw / g.stride_w;
            const T* go = dy + ((n * g.P + p) * g.Q + q) * g.K;
            const T* f = wt.data() + (r * g.S + s) * g.K;
            if (m == 1) for (int64_t k = 0; k < g.K; ++k) out[k] += go[k] * f[k];
            else for (int64_t k = 0; k < g.K; ++k) out[k / m] += go[k] * f[k];
          }
        }
      }
    }
    return;
  }
  if (is_pointwise(g)) {
    for (int64_t grp = 0; grp < g.groups; ++grp)
      gemm(false, false, g.N * g.H * g.W, Cg, Kg, T(1), dy + grp * Kg, g.K, w + grp * Kg * Cg, Cg,
           T(0), dx + grp * Cg, g.C);
    return;
  }
  const int64_t nb_max = images_per_chunk(g);
  Scratch<T> col(nb_max * g.P * g.Q * row_len);  // im2col / the GEMM (beta 0) write all of it
  for (int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.N - n0), rows = nb * g.P * g.Q;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      gemm(false, false, rows, row_len, Kg, T(1), dy + n0 * g.P * g.Q * g.K + grp * Kg, g.K,
           w + grp * Kg * row_len, row_len, T(0), col.data(), row_len);
      col2im(col.data(), dx, g, n0, nb, grp);
    }
  }
}

// ---- weight grad ----

template <typename T>
void weight_grad_typed(T* dw, const T* x, const T* dy, const Geo& g) {
  // dw: [K, R, S, Cg]; x: [N, H, W, C]; dy: [N, P, Q, K].
  const int64_t Cg = g.c_per_group(), Kg = g.k_per_group(), row_len = g.R * g.S * Cg;
  if (g.N * g.P * g.Q == 0) {  // nothing to reduce over: the gradient is zero
    std::fill(dw, dw + g.K * row_len, T(0));
    return;
  }
  if (is_depthwise_like(g)) {
    // dw[k, r, s] = sum_{n, p, q} dy[n, p, q, k] * x[n, h, w, k / m]. One partial sum per image
    // (partial [N, R, S, K]), then the images are added in order: deterministic.
    const int64_t m = Kg, rsk = g.R * g.S * g.K;
    std::vector<T> partial(g.N * rsk, T(0));
#pragma omp parallel for schedule(static) if (g.N * g.P * g.Q * g.K * g.R * g.S > kParallelWork)
    for (int64_t n = 0; n < g.N; ++n) {
      T* acc_n = partial.data() + n * rsk;
      for (int64_t p = 0; p < g.P; ++p) {
        for (int64_t q = 0; q < g.Q; ++q) {
          const T* go = dy + ((n * g.P + p) * g.Q + q) * g.K;
          for (int64_t r = 0; r < g.R; ++r) {
            const int64_t h = p * g.stride_h - g.pad_top + r;
            if (h < 0 || h >= g.H) continue;
            for (int64_t s = 0; s < g.S; ++s) {
              const int64_t wi = q * g.stride_w - g.pad_left + s;
              if (wi < 0 || wi >= g.W) continue;
              const T* in = x + ((n * g.H + h) * g.W + wi) * g.C;
              T* acc = acc_n + (r * g.S + s) * g.K;
              if (m == 1) for (int64_t k = 0; k < g.K; ++k) acc[k] += go[k] * in[k];
              else for (int64_t k = 0; k < g.K; ++k) acc[k] += go[k] * in[k / m];
            }
          }
        }
      }
    }
#pragma omp parallel for schedule(static) if (g.N * rsk > kParallelWork)
    for (int64_t k = 0; k < g.K; ++k) {
      for (int64_t rs = 0; rs < g.R * g.S; ++rs) {
        T total = 0;
        for (int64_t n = 0; n < g.N; ++n) total += partial[n * rsk + rs * g.K + k];
        dw[k * g.R * g.S + rs] = total;
      }
    }
    return;
  }
  if (is_pointwise(g)) {
    for (int64_t grp = 0; grp < g.groups; ++grp)
      gemm(true, false, Kg, Cg, g.N * g.H * g.W, T(1), dy + grp * Kg, g.K, x + grp * Cg, g.C,
           T(0), dw + grp * Kg * Cg, Cg);
    return;
  }
  const int64_t nb_max = images_per_chunk(g);
  Scratch<T> col(nb_max * g.P * g.Q * row_len);  // im2col / the GEMM (beta 0) write all of it
  for (int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.N - n0), rows = nb * g.P * g.Q;
    const T beta = n0 == 0 ? T(0) : T(1);  // the first chunk overwrites, later ones accumulate
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      im2col(x, col.data(), g, n0, nb, grp);
      gemm(true, false, Kg, row_len, rows, T(1), dy + n0 * g.P * g.Q * g.K + grp * Kg, g.K,
           col.data(), row_len, beta, dw + grp * Kg * row_len, row_len);
    }
  }
}

// A float32 problem asked to run in bfloat16 (kernels/precision.h); float64 ignores the request.
bool bf16_problem(const Tensor& out, Precision precision) {
  return precision == Precision::BFloat16 && out.dtype() == DType::Float32 && out.numel() > 0;
}

// y [rows, K] += bias [K], in float32 after the rounding (as the CUDA path adds it).
void add_bias_rows(const Tensor& y, const Tensor& bias, int64_t K) {
  float* py = y.data<float>();
  const float* pb = bias.data<float>();
  const int64_t rows = y.numel() / K;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t k = 0; k < K; ++k) py[i * K + k] += pb[k];
}

}  // namespace

void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias,
                    const Conv2dGeometry& geo, Precision precision) {
  if (bf16_problem(y, precision)) {  // the definition: rounded operands, float32 sums, rounded y
    cpu::conv2d_forward(y, rounded_to_bf16(x), rounded_to_bf16(w), Tensor(), geo);
    round_to_bf16_(y);
    if (bias.defined()) add_bias_rows(y, bias, geo.K);
    return;
  }
  dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (y.numel() == 0) return;
    forward_typed(y.data<T>(), x.data<T>(), w.data<T>(), bias.defined() ? bias.data<T>() : nullptr,
                  geo);
  });
}

void conv2d_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w,
                       const Conv2dGeometry& geo, Precision precision) {
  if (bf16_problem(dx, precision)) {
    cpu::conv2d_input_grad(dx, rounded_to_bf16(dy), rounded_to_bf16(w), geo);
    round_to_bf16_(dx);
    return;
  }
  dispatch_float(dy.dtype(), "conv2d_input_grad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (dx.numel() == 0) return;
    input_grad_typed(dx.data<T>(), dy.data<T>(), w.data<T>(), geo);
  });
}

void conv2d_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy,
                        const Conv2dGeometry& geo, Precision precision) {
  if (bf16_problem(dw, precision)) {
    cpu::conv2d_weight_grad(dw, rounded_to_bf16(x), rounded_to_bf16(dy), geo);
    round_to_bf16_(dw);
    return;
  }
  dispatch_float(x.dtype(), "conv2d_weight_grad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (dw.numel() == 0) return;
    weight_grad_typed(dw.data<T>(), x.data<T>(), dy.data<T>(), geo);
  });
}

}  // namespace ember::kernels::cpu
