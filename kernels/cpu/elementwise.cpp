// CPU reference for elementwise kernels: each op's formula (kernels/elementwise_math.h, shared
// with the CUDA kernels) applied either over contiguous same-shape buffers (a flat, OpenMP-parallel
// loop) or through the strided odometer loop (broadcasting, views).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/elementwise.h"
#include "kernels/elementwise_math.h"
#include "tensor/strided_loop.h"

namespace ember::kernels::cpu {

namespace {

using pointwise::CpuMath;

// The formulas of kernels/elementwise_math.h with the CPU's math calls.
template <BinaryOp op, typename T>
[[gnu::always_inline]] inline auto apply_binary(T a, T b, T alpha) {
  return pointwise::binary_formula<CpuMath, op>(a, b, alpha);
}
template <UnaryOp op, typename T>
[[gnu::always_inline]] inline auto apply_unary(T x, T alpha, T beta) {
  return pointwise::unary_formula<CpuMath, op>(x, alpha, beta);
}

// float32 silu, sigmoid and silu_grad over contiguous buffers, the swish of every EfficientNet
// layer: compiled twice, for x86-64-v3 (AVX2 + FMA, 8 lanes) and the baseline (SSE2), and the
// loader picks the clone the CPU runs (GCC's target_clones); the math is apply_* above (the
// formulas of kernels/elementwise_math.h), the same as every other path.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define EMBER_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define EMBER_CPU_CLONES
#endif
EMBER_CPU_CLONES void silu_f32(float* __restrict o, const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = apply_unary<UnaryOp::Silu>(x[i], 0.0f, 0.0f);
}
EMBER_CPU_CLONES void sigmoid_f32(float* __restrict o, const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = apply_unary<UnaryOp::Sigmoid>(x[i], 0.0f, 0.0f);
}
EMBER_CPU_CLONES void silu_grad_f32(float* __restrict o, const float* __restrict g,
                                    const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = apply_binary<BinaryOp::SiluGrad>(g[i], x[i], 0.0f);
}
#undef EMBER_CPU_CLONES

// Runs fn(begin, end) over [0, n) in one contiguous block per OpenMP thread (one thread below
// the same threshold as the other flat loops).
template <typename Fn>
void in_blocks(int64_t n, Fn&& fn) {
#pragma omp parallel if (n > 32768)
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t block = (n + threads - 1) / threads;
    const int64_t begin = std::min(n, t * block), end = std::min(n, begin + block);
    if (begin < end) fn(begin, end);
  }
}

// True when a is a contiguous buffer of out's shape and out is contiguous (the callers also rule
// out in-place use, since the clones promise the compiler no aliasing).
bool flat_buffers(const Tensor& out, const Tensor& a) {
  return a.shape() == out.shape() && a.is_contiguous() && out.is_contiguous();
}

template <BinaryOp op, typename T, typename Out>
void binary_typed(const Tensor& out, const Tensor& a, const Tensor& b, T alpha) {
  Out* o = static_cast<Out*>(out.raw_data());
  const T* pa = static_cast<const T*>(a.raw_data());
  const T* pb = static_cast<const T*>(b.raw_data());
  const int64_t n = out.numel();
  if constexpr (op == BinaryOp::SiluGrad && std::is_same_v<T, float>) {
    if (flat_buffers(out, a) && flat_buffers(out, b) && pa != o && pb != o) {
      in_blocks(n, [&](int64_t i0, int64_t i1) { silu_grad_f32(o + i0, pa + i0, pb + i0, i1 - i0); });
      return;
    }
  }
  if (a.shape() == out.shape() && b.shape() == out.shape() && a.is_contiguous() && b.is_contiguous()) {
#pragma omp parallel for if (n > 32768)
    for (int64_t i = 0; i < n; ++i) o[i] = static_cast<Out>(apply_binary<op>(pa[i], pb[i], alpha));
    return;
  }
  const Shape sa = broadcast_strides(a, out.shape()), sb = broadcast_strides(b, out.shape());
  for_each_strided<3>(out.shape(), {out.strides().data(), sa.data(), sb.data()},
                      [&](const std::array<int64_t, 3>& off) {
                        o[off[0]] = static_cast<Out>(apply_binary<op>(pa[off[1]], pb[off[2]], alpha));
                      });
}

template <UnaryOp op, typename T, typename Out>
void unary_typed(const Tensor& out, const Tensor& x, T alpha, T beta) {
  Out* o = static_cast<Out*>(out.raw_data());
  const T* px = static_cast<const T*>(x.raw_data());
  const int64_t n = out.numel();
  if constexpr ((op == UnaryOp::Silu || op == UnaryOp::Sigmoid) && std::is_same_v<T, float> &&
                std::is_same_v<Out, float>) {
    if (flat_buffers(out, x) && px != o) {
      in_blocks(n, [&](int64_t i0, int64_t i1) {
        if constexpr (op == UnaryOp::Silu) silu_f32(o + i0, px + i0, i1 - i0);
        else sigmoid_f32(o + i0, px + i0, i1 - i0);
      });
      return;
    }
  }
  if (x.is_contiguous()) {
#pragma omp parallel for if (n > 32768)
    for (int64_t i = 0; i < n; ++i) o[i] = static_cast<Out>(apply_unary<op>(px[i], alpha, beta));
    return;
  }
  for_each_strided<2>(out.shape(), {out.strides().data(), x.strides().data()},
                      [&](const std::array<int64_t, 2>& off) {
                        o[off[0]] = static_cast<Out>(apply_unary<op>(px[off[1]], alpha, beta));
                      });
}

}  // namespace

void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, double alpha) {
  dispatch_float(a.dtype(), "binary elementwise", [&](auto tag) {
    using T = typename decltype(tag)::type;
    with_op(op, [&](auto op_tag) {
      constexpr BinaryOp kOp = decltype(op_tag)::value;
      if constexpr (writes_mask(kOp)) binary_typed<kOp, T, uint8_t>(out, a, b, T(alpha));
      else binary_typed<kOp, T, T>(out, a, b, T(alpha));
    });
  });
}

void unary(UnaryOp op, const Tensor& out, const Tensor& x, double alpha, double beta) {
  dispatch_float(x.dtype(), "unary elementwise", [&](auto tag) {
    using T = typename decltype(tag)::type;
    with_op(op, [&](auto op_tag) {
      constexpr UnaryOp kOp = decltype(op_tag)::value;
      if constexpr (writes_mask(kOp))
        unary_typed<kOp, T, uint8_t>(out, x, T(alpha), T(beta));
      else unary_typed<kOp, T, T>(out, x, T(alpha), T(beta));
    });
  });
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  dispatch_all(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_all(cond.dtype(), [&](auto cond_tag) {
      using C = typename decltype(cond_tag)::type;
      T* o = static_cast<T*>(out.raw_data());
      const C* pc = static_cast<const C*>(cond.raw_data());
      const T* pa = static_cast<const T*>(a.raw_data());
      const T* pb = static_cast<const T*>(b.raw_data());
      const Shape sc = broadcast_strides(cond, out.shape()), sa = broadcast_strides(a, out.shape()),
                  sb = broadcast_strides(b, out.shape());
      for_each_strided<4>(out.shape(), {out.strides().data(), sc.data(), sa.data(), sb.data()},
                          [&](const std::array<int64_t, 4>& off) {
                            const bool take_a = convert_scalar<double>(pc[off[1]]) != 0.0;
                            o[off[0]] = take_a ? pa[off[2]] : pb[off[3]];
                          });
    });
  });
}

void add_inplace(const Tensor& self, const Tensor& other, double alpha) {
  dispatch_float(self.dtype(), "add_", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* s = static_cast<T*>(self.raw_data());
    const T* po = static_cast<const T*>(other.raw_data());
    const T a = static_cast<T>(alpha);
    const int64_t n = self.numel();
    if (self.is_contiguous() && other.is_contiguous() && other.shape() == self.shape()) {
#pragma omp parallel for if (n > 32768)
      for (int64_t i = 0; i < n; ++i) s[i] = pointwise::axpy(s[i], a, po[i]);
      return;
    }
    const Shape so = broadcast_strides(other, self.shape());
    for_each_strided<2>(self.shape(), {self.strides().data(), so.data()},
                        [&](const std::array<int64_t, 2>& off) {
                          s[off[0]] = pointwise::axpy(s[off[0]], a, po[off[1]]);
                        });
  });
}

}  // namespace ember::kernels::cpu
