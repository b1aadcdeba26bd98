// CPU reference for batch norm and layer norm (contract and formulas: kernels/norm.h).
// Matches torch.nn.functional.batch_norm / layer_norm (biased variance in the normalisation)
// and Keras's running-statistics update. The fused batch norm + activation (batch_norm_act_*)
// takes its statistics in one pass (shifted sums per block of rows, merged in block order;
// kernels/norm_math.h), the unfused two-pass forward the mean and then the centred second
// moment; both accumulate in double. The elementwise passes (normalise, activation, dx) run in
// the tensor's dtype on per-channel constants folded in double, so they vectorise. Per-column
// sums over rows are taken in fixed blocks of rows whose partial sums are added in block order:
// parallel, yet bit-identical for any thread count. Tested through ops in tests/test_norm.cpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/norm.h"
#include "kernels/norm_math.h"

namespace ember::kernels::cpu {

namespace {

constexpr int64_t kBlockRows = 256;
constexpr int64_t kParallelWork = 32768;  // elements below which threads cost more than they save

// Sums k per-column quantities over the rows of a [rows, cols] walk. add_block(begin, end, acc)
// adds the contributions of rows [begin, end) (one block) into acc [k, cols]. Returns the totals
// [k, cols].
template <typename AddBlock>
std::vector<double> column_block_sums(int64_t rows, int64_t cols, int64_t k,
                                      const AddBlock& add_block) {
  const int64_t blocks = (rows + kBlockRows - 1) / kBlockRows;
  const int64_t width = k * cols;
  std::vector<double> partial(blocks * width, 0.0);
#pragma omp parallel for if (rows * cols > kParallelWork)
  for (int64_t b = 0; b < blocks; ++b)
    add_block(b * kBlockRows, std::min(rows, (b + 1) * kBlockRows), partial.data() + b * width);
  std::vector<double> total(width, 0.0);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t i = 0; i < width; ++i) total[i] += partial[b * width + i];
  return total;
}

// The same with add_row(r, acc) called for each row r.
template <typename AddRow>
std::vector<double> column_sums(int64_t rows, int64_t cols, int64_t k, const AddRow& add_row) {
  return column_block_sums(rows, cols, k, [&](int64_t begin, int64_t end, double* acc) {
    for (int64_t r = begin; r < end; ++r) add_row(r, acc);
  });
}

// Reads element i of an optional parameter: a 1-D tensor of any stride or a contiguous one of
// any rank, or `fallback` everywhere when the tensor is undefined.
template <typename T>
class Param {
 public:
  Param(const Tensor& t, double fallback)
      : data_(t.defined() ? static_cast<const T*>(t.raw_data()) : nullptr),
        stride_(t.defined() && t.dim() == 1 ? t.strides()[0] : 1),
        fallback_(fallback) {}
  double operator[](int64_t i) const { return data_ ? static_cast<double>(data_[i * stride_]) : fallback_; }

 private:
  const T* data_;
  int64_t stride_;
  double fallback_;
};

// Writes a [n] vector of doubles into an optional T tensor (contiguous).
template <typename T>
void store(const Tensor& out, const std::vector<double>& values, int64_t offset, int64_t n) {
  if (!out.defined()) return;
  T* po = static_cast<T*>(out.raw_data());
  for (int64_t i = 0; i < n; ++i) po[i] = static_cast<T>(values[offset + i]);
}

int64_t channels_of(const Tensor& x) { return x.shape().back(); }

using norm_math::Affine;
using norm_math::Moments;
using pointwise::CpuMath;

// Per-column moments of x [rows, cols] in one pass: each block of kBlockRows rows sums x - k and
// (x - k)^2 in double about its first row k, and the blocks' moments are merged in block order.
template <typename T>
std::vector<Moments> column_moments(const T* x, int64_t rows, int64_t cols) {
  const int64_t blocks = (rows + kBlockRows - 1) / kBlockRows;
  std::vector<Moments> partial(blocks * cols);
#pragma omp parallel for if (rows * cols > kParallelWork)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = b * kBlockRows, end = std::min(rows, begin + kBlockRows);
    const T* first = x + begin * cols;
    std::vector<double> s1(cols, 0.0), s2(cols, 0.0);
    for (int64_t r = begin; r < end; ++r) {
      const T* row = x + r * cols;
      for (int64_t c = 0; c < cols; ++c) {
        const double d = static_cast<double>(row[c]) - static_cast<double>(first[c]);
        s1[c] += d;
        s2[c] += d * d;
      }
    }
    for (int64_t c = 0; c < cols; ++c)
      partial[b * cols + c] = norm_math::moments_from_shifted_sums(
          static_cast<double>(end - begin), static_cast<double>(first[c]), s1[c], s2[c]);
  }
  std::vector<Moments> total(cols, Moments{0.0, 0.0, 0.0});
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t c = 0; c < cols; ++c) total[c] = norm_math::merge_moments(total[c], partial[b * cols + c]);
  return total;
}

// The per-channel constants as plain arrays (what the vectorised loops read).
template <typename T>
struct AffineArrays {
  std::vector<T> mean, invstd, scale, shift;
  explicit AffineArrays(int64_t C) : mean(C), invstd(C), scale(C), shift(C) {}
  void set(int64_t c, const Affine<T>& a) {
    mean[c] = a.mean;
    invstd[c] = a.invstd;
    scale[c] = a.scale;
    shift[c] = a.shift;
  }
};

// ---- Row kernels of the fused batch norm + activation ----
// Rows of [M, C] with every pointer __restrict, so the loops over C vectorise. With swish, the
// float32 loops over a block of rows are compiled twice, for x86-64-v3 (AVX2 + FMA) and the
// baseline, and the loader picks the CPU's clone (GCC's target_clones), as
// kernels/cpu/elementwise.cpp does for silu: fast_exp then runs 8 lanes wide. (On the 2-core
// development machine, [32, 32, 32, 96] float32 forward + backward: without the clones and
// __restrict the fused op took 3.4x as long as batch norm then silu, 40 vs 12 ms; with them
// about as long, within the shared machine's noise.)

// y = act((x - mean) * scale + shift).
template <bool kSwish, typename T>
[[gnu::always_inline]] inline void affine_act_row(T* __restrict y, const T* __restrict x,
                                                  const T* __restrict mean,
                                                  const T* __restrict scale,
                                                  const T* __restrict shift, int64_t C) {
  for (int64_t c = 0; c < C; ++c)
    y[c] = norm_math::activation<CpuMath, kSwish>((x[c] - mean[c]) * scale[c] + shift[c]);
}

// gz = dy * act'(z) with z recomputed as above, written to gz; sum_g += gz and
// sum_gx += gz * xhat (xhat = (x - mean) * invstd in T, each product accumulated in double).
template <bool kSwish, typename T>
[[gnu::always_inline]] inline void act_grad_row(T* __restrict gz, double* __restrict sum_g,
                                                double* __restrict sum_gx,
                                                const T* __restrict dy, const T* __restrict x,
                                                const T* __restrict mean,
                                                const T* __restrict invstd,
                                                const T* __restrict scale,
                                                const T* __restrict shift, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    const T d = x[c] - mean[c];
    const T g = norm_math::activation_grad<CpuMath, kSwish>(dy[c], d * scale[c] + shift[c]);
    gz[c] = g;
    sum_g[c] += g;
    sum_gx[c] += g * (d * invstd[c]);
  }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define EMBER_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define EMBER_CPU_CLONES
#endif
EMBER_CPU_CLONES void affine_swish_rows_f32(float* __restrict y, const float* __restrict x,
                                            const float* __restrict mean,
                                            const float* __restrict scale,
                                            const float* __restrict shift, int64_t rows,
                                            int64_t C) {
  for (int64_t r = 0; r < rows; ++r) affine_act_row<true>(y + r * C, x + r * C, mean, scale, shift, C);
}
EMBER_CPU_CLONES void swish_grad_rows_f32(float* __restrict gz, double* __restrict sum_g,
                                          double* __restrict sum_gx, const float* __restrict dy,
                                          const float* __restrict x, const float* __restrict mean,
                                          const float* __restrict invstd,
                                          const float* __restrict scale,
                                          const float* __restrict shift, int64_t rows, int64_t C) {
  for (int64_t r = 0; r < rows; ++r)
    act_grad_row<true>(gz + r * C, sum_g, sum_gx, dy + r * C, x + r * C, mean, invstd, scale,
                       shift, C);
}
EMBER_CPU_CLONES void swish_row_f32(float* __restrict y, int64_t C) {
  for (int64_t c = 0; c < C; ++c) y[c] = norm_math::activation<CpuMath, true>(y[c]);
}
#undef EMBER_CPU_CLONES

// Rows [0, rows) of [rows, C].
template <bool kSwish, typename T>
void affine_act_rows(T* y, const T* x, const T* mean, const T* scale, const T* shift,
                     int64_t rows, int64_t C) {
  if constexpr (kSwish && std::is_same_v<T, float>) {
    affine_swish_rows_f32(y, x, mean, scale, shift, rows, C);
  } else {
    for (int64_t r = 0; r < rows; ++r)
      affine_act_row<kSwish>(y + r * C, x + r * C, mean, scale, shift, C);
  }
}

template <bool kSwish, typename T>
void act_grad_rows(T* gz, double* sum_g, double* sum_gx, const T* dy, const T* x, const T* mean,
                   const T* invstd, const T* scale, const T* shift, int64_t rows, int64_t C) {
  if constexpr (kSwish && std::is_same_v<T, float>) {
    swish_grad_rows_f32(gz, sum_g, sum_gx, dy, x, mean, invstd, scale, shift, rows, C);
  } else {
    for (int64_t r = 0; r < rows; ++r)
      act_grad_row<kSwish>(gz + r * C, sum_g, sum_gx, dy + r * C, x + r * C, mean, invstd, scale,
                           shift, C);
  }
}

// y [M, C] = act((x - mean) * scale + shift).
template <bool kSwish, typename T>
void apply_affine_act(T* y, const T* x, const AffineArrays<T>& k, int64_t M, int64_t C) {
  const T* pm = k.mean.data();
  const T* ps = k.scale.data();
  const T* pb = k.shift.data();
  const int64_t blocks = (M + kBlockRows - 1) / kBlockRows;
#pragma omp parallel for if (M * C > kParallelWork)
  for (int64_t i = 0; i < blocks; ++i) {
    const int64_t r = i * kBlockRows, rows = std::min(kBlockRows, M - r);
    affine_act_rows<kSwish>(y + r * C, x + r * C, pm, ps, pb, rows, C);
  }
}

// running [C] (any stride, may be undefined) = running_average(running, batch, ...), in place.
template <typename T>
void update_running(const Tensor& running, const std::vector<T>& batch, double momentum,
                    double factor) {
  if (!running.defined()) return;
  T* p = static_cast<T*>(running.raw_data());
  const int64_t stride = running.strides()[0];
  for (size_t c = 0; c < batch.size(); ++c)
    p[c * stride] = static_cast<T>(norm_math::running_average(
        p[c * stride], static_cast<double>(batch[c]), momentum, factor));
}

template <bool kSwish, typename T>
void batch_norm_act_backward_impl(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                                  const Tensor& dy, const Tensor& x, const Tensor& weight,
                                  const Tensor& bias, const Tensor& mean, const Tensor& invstd) {
  const int64_t C = channels_of(x);
  if (C == 0) return;  // no channels: nothing to normalise or to write
  const int64_t M = x.numel() / C;
  const T* px = static_cast<const T*>(x.raw_data());    // [M, C]
  const T* pdy = static_cast<const T*>(dy.raw_data());  // [M, C]
  const Param<T> w(weight, 1.0), b(bias, 0.0), mu(mean, 0.0), inv(invstd, 1.0);
  AffineArrays<T> k(C);
  for (int64_t c = 0; c < C; ++c)
    k.set(c, norm_math::affine_of(static_cast<T>(mu[c]), static_cast<T>(inv[c]), w[c], b[c]));
  const T* pm = k.mean.data();
  const T* pi = k.invstd.data();
  const T* ps = k.scale.data();
  const T* pb = k.shift.data();
  // gz = dy * act'(z), z recomputed as the forward computed it. With swish, gz goes to dx's
  // buffer (or a scratch one when dx is not wanted) for the dx pass, so the exp is computed once
  // per element; without, gz is dy itself.
  std::vector<T> scratch;
  T* pgz = nullptr;
  if constexpr (kSwish) {
    if (dx.defined()) {
      pgz = static_cast<T*>(dx.raw_data());
    } else {
      scratch.resize(M * C);
      pgz = scratch.data();
    }
  }

  // sums[0, c] = sum gz (= dbias), sums[1, c] = sum gz * xhat (= dweight).
  const std::vector<double> sums = column_block_sums(M, C, 2, [&](int64_t begin, int64_t end,
                                                                  double* acc) {
    if constexpr (kSwish) {
      act_grad_rows<true>(pgz + begin * C, acc, acc + C, pdy + begin * C, px + begin * C, pm, pi,
                          ps, pb, end - begin, C);
    } else {
      for (int64_t r = begin; r < end; ++r) {
        const T* gr = pdy + r * C;
        const T* xr = px + r * C;
        for (int64_t c = 0; c < C; ++c) {
          acc[c] += gr[c];
          acc[C + c] += gr[c] * ((xr[c] - pm[c]) * pi[c]);
        }
      }
    }
  });
  store<T>(dbias, sums, 0, C);
  store<T>(dweight, sums, C, C);
  if (!dx.defined()) return;

  T* pdx = static_cast<T*>(dx.raw_data());  // [M, C]
  // dx = k (n gz - sum gz - xhat sum gz xhat), k = w invstd / n, folded per channel into
  // dx = a gz - b (x - mean) - d, with a = k n, b = k invstd sum(gz xhat), d = k sum(gz).
  const double n = static_cast<double>(M);
  std::vector<T> a_t(C), b_t(C), d_t(C);
  for (int64_t c = 0; c < C; ++c) {
    const double kc = w[c] * inv[c] / n;
    a_t[c] = static_cast<T>(kc * n);
    b_t[c] = static_cast<T>(kc * inv[c] * sums[C + c]);
    d_t[c] = static_cast<T>(kc * sums[c]);
  }
  const T* pa = a_t.data();
  const T* pbb = b_t.data();
  const T* pd = d_t.data();
  const T* pg = kSwish ? pgz : pdy;  // gz: in dx's own buffer with swish (read, then overwritten)
#pragma omp parallel for if (M * C > kParallelWork)
  for (int64_t r = 0; r < M; ++r) {
    const T* gr = pg + r * C;
    const T* xr = px + r * C;
    T* out = pdx + r * C;
    for (int64_t c = 0; c < C; ++c) out[c] = pa[c] * gr[c] - pbb[c] * (xr[c] - pm[c]) - pd[c];
  }
}

}  // namespace

void batch_norm_act_forward_training(const Tensor& y, const Tensor& mean, const Tensor& invstd,
                                     const Tensor& x, const Tensor& weight, const Tensor& bias,
                                     const RunningStats& running, double eps,
                                     NormActivation act) {
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t C = channels_of(x);
    if (C == 0) return;  // no channels: nothing to normalise or to write
    const int64_t M = x.numel() / C;
    const T* px = static_cast<const T*>(x.raw_data());  // [M, C]
    const Param<T> w(weight, 1.0), b(bias, 0.0);

    const std::vector<Moments> moments = column_moments(px, M, C);
    AffineArrays<T> k(C);
    std::vector<T> var_t(C);
    T* pmean = mean.defined() ? static_cast<T*>(mean.raw_data()) : nullptr;   // [C]
    T* pinv = invstd.defined() ? static_cast<T*>(invstd.raw_data()) : nullptr;  // [C]
    for (int64_t c = 0; c < C; ++c) {
      const auto s = norm_math::channel_stats<T>(moments[c], eps);
      k.set(c, norm_math::affine_of(s.mean, s.invstd, w[c], b[c]));
      var_t[c] = s.var;
      if (pmean) pmean[c] = s.mean;
      if (pinv) pinv[c] = s.invstd;
    }
    const double correction =
        running.unbiased_var ? static_cast<double>(M) / static_cast<double>(M - 1) : 1.0;
    update_running(running.mean, k.mean, running.momentum, 1.0);
    update_running(running.var, var_t, running.momentum, correction);

    T* py = static_cast<T*>(y.raw_data());  // [M, C]
    if (act == NormActivation::Swish) apply_affine_act<true>(py, px, k, M, C);
    else apply_affine_act<false>(py, px, k, M, C);
  });
}

void batch_norm_act_forward_inference(const Tensor& y, const Tensor& x, const Tensor& weight,
                                      const Tensor& bias, const Tensor& running_mean,
                                      const Tensor& running_var, double eps, NormActivation act) {
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t C = channels_of(x);
    if (C == 0) return;  // no channels: nothing to normalise or to write
    const int64_t M = x.numel() / C;
    const T* px = static_cast<const T*>(x.raw_data());  // [M, C]
    T* py = static_cast<T*>(y.raw_data());               // [M, C]
    const Param<T> w(weight, 1.0), b(bias, 0.0), rm(running_mean, 0.0), rv(running_var, 1.0);
    std::vector<double> mu(C), scale(C), shift(C);
    for (int64_t c = 0; c < C; ++c) {
      mu[c] = rm[c];
      scale[c] = w[c] / std::sqrt(rv[c] + eps);
      shift[c] = b[c];
    }
    // z in double, rounded once to T (the unfused inference forward's bits), then act in T,
    // row by row in place.
    const bool swish = act == NormActivation::Swish;
#pragma omp parallel for if (M * C > kParallelWork)
    for (int64_t r = 0; r < M; ++r) {
      T* yr = py + r * C;
      for (int64_t c = 0; c < C; ++c)
        yr[c] = static_cast<T>((px[r * C + c] - mu[c]) * scale[c] + shift[c]);
      if (!swish) continue;
      if constexpr (std::is_same_v<T, float>) swish_row_f32(yr, C);
      else for (int64_t c = 0; c < C; ++c) yr[c] = norm_math::activation<CpuMath, true>(yr[c]);
    }
  });
}

void batch_norm_act_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                             const Tensor& dy, const Tensor& x, const Tensor& weight,
                             const Tensor& bias, const Tensor& mean, const Tensor& invstd,
                             NormActivation act) {
  dispatch_float(x.dtype(), "batch_norm backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (act == NormActivation::Swish)
      batch_norm_act_backward_impl<true, T>(dx, dweight, dbias, dy, x, weight, bias, mean, invstd);
    else
      batch_norm_act_backward_impl<false, T>(dx, dweight, dbias, dy, x, weight, bias, mean, invstd);
  });
}

void batch_norm_forward_training(const Tensor& y, const Tensor& mean, const Tensor& var,
                                 const Tensor& invstd, const Tensor& x, const Tensor& weight,
                                 const Tensor& bias, double eps) {
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t C = channels_of(x);
    if (C == 0) return;  // no channels: nothing to normalise or to write
    const int64_t M = x.numel() / C;
    const T* px = static_cast<const T*>(x.raw_data());  // [M, C]
    T* py = static_cast<T*>(y.raw_data());               // [M, C]
    const Param<T> w(weight, 1.0), b(bias, 0.0);

    const std::vector<double> sums = column_sums(M, C, 1, [&](int64_t r, double* acc) {
      const T* row = px + r * C;
      for (int64_t c = 0; c < C; ++c) acc[c] += row[c];
    });
    std::vector<double> mu(C);
    for (int64_t c = 0; c < C; ++c) mu[c] = sums[c] / static_cast<double>(M);
    const std::vector<double> squares = column_sums(M, C, 1, [&](int64_t r, double* acc) {
      const T* row = px + r * C;
      for (int64_t c = 0; c < C; ++c) {
        const double d = row[c] - mu[c];
        acc[c] += d * d;
      }
    });
    std::vector<double> sigma2(C), inv(C);
    // The per-channel constants of the normalising pass, in T and in plain arrays, so that the
    // pass is one vectorised multiply-add per element: y = (x - mean) * (invstd * w) + b.
    std::vector<T> mu_t(C), scale_t(C), shift_t(C);
    for (int64_t c = 0; c < C; ++c) {
      sigma2[c] = squares[c] / static_cast<double>(M);
      inv[c] = 1.0 / std::sqrt(sigma2[c] + eps);
      mu_t[c] = static_cast<T>(mu[c]);
      scale_t[c] = static_cast<T>(inv[c] * w[c]);
      shift_t[c] = static_cast<T>(b[c]);
    }
    store<T>(mean, mu, 0, C);
    store<T>(var, sigma2, 0, C);
    store<T>(invstd, inv, 0, C);

    const T* pm = mu_t.data();
    const T* ps = scale_t.data();
    const T* pb = shift_t.data();
#pragma omp parallel for if (M * C > kParallelWork)
    for (int64_t r = 0; r < M; ++r) {
      const T* xr = px + r * C;
      T* yr = py + r * C;
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - pm[c]) * ps[c] + pb[c];
    }
  });
}

void batch_norm_forward_inference(const Tensor& y, const Tensor& x, const Tensor& weight,
                                  const Tensor& bias, const Tensor& running_mean,
                                  const Tensor& running_var, double eps) {
  cpu::batch_norm_act_forward_inference(y, x, weight, bias, running_mean, running_var, eps,
                                        NormActivation::Identity);
}

void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd) {
  cpu::batch_norm_act_backward(dx, dweight, dbias, dy, x, weight, Tensor(), mean, invstd,
                               NormActivation::Identity);
}

void batch_norm_update_running_stats(const Tensor& running_mean, const Tensor& running_var,
                                     const Tensor& mean, const Tensor& var, double momentum,
                                     int64_t count, bool unbiased_var) {
  dispatch_float(mean.dtype(), "batch_norm running statistics", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t C = mean.numel();
    const Param<T> mu(mean, 0.0), sigma2(var, 0.0);
    const double correction =
        unbiased_var ? static_cast<double>(count) / static_cast<double>(count - 1) : 1.0;
    // Each running statistic is a [C] vector of any stride, updated in place.
    auto update = [&](const Tensor& running, const Param<T>& batch, double factor) {
      if (!running.defined()) return;
      T* p = static_cast<T*>(running.raw_data());
      const int64_t stride = running.strides()[0];
      for (int64_t c = 0; c < C; ++c) {
        const double old = p[c * stride];
        p[c * stride] = static_cast<T>(momentum * old + (1.0 - momentum) * batch[c] * factor);
      }
    };
    update(running_mean, mu, 1.0);
    update(running_var, sigma2, correction);
  });
}

void layer_norm_forward(const Tensor& y, const Tensor& mean, const Tensor& invstd,
                        const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t M = mean.numel(), D = M > 0 ? x.numel() / M : 0;
    const T* px = static_cast<const T*>(x.raw_data());  // [M, D]
    T* py = static_cast<T*>(y.raw_data());               // [M, D]
    T* pmean = static_cast<T*>(mean.raw_data());         // [M]
    T* pinv = static_cast<T*>(invstd.raw_data());        // [M]
    const Param<T> w(weight, 1.0), b(bias, 0.0);
#pragma omp parallel for if (M * D > kParallelWork)
    for (int64_t r = 0; r < M; ++r) {
      const T* row = px + r * D;
      double sum = 0;
      for (int64_t d = 0; d < D; ++d) sum += row[d];
      const double mu = sum / static_cast<double>(D);
      double squares = 0;
      for (int64_t d = 0; d < D; ++d) squares += (row[d] - mu) * (row[d] - mu);
      const double inv = 1.0 / std::sqrt(squares / static_cast<double>(D) + eps);
      pmean[r] = static_cast<T>(mu);
      pinv[r] = static_cast<T>(inv);
      for (int64_t d = 0; d < D; ++d)
        py[r * D + d] = static_cast<T>((row[d] - mu) * inv * w[d] + b[d]);
    }
  });
}

void layer_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd) {
  dispatch_float(x.dtype(), "layer_norm backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t M = mean.numel();
    // With no rows, D comes from the parameter gradients, whose sums over 0 rows are 0.
    const int64_t D = M > 0               ? x.numel() / M
                      : dweight.defined() ? dweight.numel()
                      : dbias.defined()   ? dbias.numel()
                                          : 0;
    const T* px = static_cast<const T*>(x.raw_data());    // [M, D]
    const T* pdy = static_cast<const T*>(dy.raw_data());  // [M, D]
    const T* pmean = static_cast<const T*>(mean.raw_data());  // [M]
    const T* pinv = static_cast<const T*>(invstd.raw_data());  // [M]
    const Param<T> w(weight, 1.0);

    if (dx.defined()) {
      T* pdx = static_cast<T*>(dx.raw_data());  // [M, D]
#pragma omp parallel for if (M * D > kParallelWork)
      for (int64_t r = 0; r < M; ++r) {
        const double mu = pmean[r], inv = pinv[r];
        double sum_g = 0, sum_g_xhat = 0;
        for (int64_t d = 0; d < D; ++d) {
          const double g = pdy[r * D + d] * w[d];
          sum_g += g;
          sum_g_xhat += g * (px[r * D + d] - mu) * inv;
        }
        const double mean_g = sum_g / static_cast<double>(D);
        const double mean_g_xhat = sum_g_xhat / static_cast<double>(D);
        for (int64_t d = 0; d < D; ++d) {
          const double g = pdy[r * D + d] * w[d];
          const double xhat = (px[r * D + d] - mu) * inv;
          pdx[r * D + d] = static_cast<T>(inv * (g - mean_g - xhat * mean_g_xhat));
        }
      }
    }
    if (!dweight.defined() && !dbias.defined()) return;
    // sums[0, d] = sum_M dy * xhat (= dweight), sums[1, d] = sum_M dy (= dbias).
    const std::vector<double> sums = column_sums(M, D, 2, [&](int64_t r, double* acc) {
      const double mu = pmean[r], inv = pinv[r];
      for (int64_t d = 0; d < D; ++d) {
        const double g = pdy[r * D + d];
        acc[d] += g * (px[r * D + d] - mu) * inv;
        acc[D + d] += g;
      }
    });
    store<T>(dweight, sums, 0, D);
    store<T>(dbias, sums, D, D);
  });
}

}  // namespace ember::kernels::cpu
