// CPU reference for elementwise kernels: one scalar function per op, applied either over
// contiguous same-shape buffers (a flat, OpenMP-parallel loop) or through the strided odometer
// loop (broadcasting, views). Written to be read; the math of each op is a one-liner below.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/cpu/fast_exp.h"
#include "kernels/elementwise.h"
#include "tensor/strided_loop.h"

namespace ember::kernels::cpu {

namespace {

// float32 takes the vectorisable exp of fast_exp.h (within 2 ulp of std::exp); float64 std::exp.
// always_inline, like fast_exp, so that the AVX2 clones below inline them.
template <typename T> [[gnu::always_inline]] inline T exp_of(T x) {
  if constexpr (std::is_same_v<T, float>) return fast_exp(x);
  else return std::exp(x);
}
template <typename T> [[gnu::always_inline]] inline T sigmoid_of(T x) { return T(1) / (T(1) + exp_of(-x)); }

template <BinaryOp op, typename T>
T apply_binary(T a, T b, T alpha) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Equal: return a == b ? T(1) : T(0);
    case BinaryOp::ReluGrad: return b > T(0) ? a : T(0);
    case BinaryOp::LeakyReluGrad: return b > T(0) ? a : a * alpha;
    case BinaryOp::SigmoidGrad: return a * b * (T(1) - b);
    case BinaryOp::TanhGrad: return a * (T(1) - b * b);
    case BinaryOp::SiluGrad: { const T s = sigmoid_of(b); return a * s * (T(1) + b * (T(1) - s)); }
  }
  return T(0);
}

template <UnaryOp op, typename T>
T apply_unary(T x, T alpha, T beta) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Reciprocal: return T(1) / x;
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Rsqrt: return T(1) / std::sqrt(x);
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Abs: return std::abs(x);
    case UnaryOp::Sign: return T((x > T(0)) - (x < T(0)));
    case UnaryOp::Relu: return x > T(0) ? x : T(0);
    case UnaryOp::Sigmoid: return sigmoid_of(x);
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Silu: return x * sigmoid_of(x);
    case UnaryOp::AddScalar: return x + alpha;
    case UnaryOp::MulScalar: return x * alpha;
    case UnaryOp::Pow: return std::pow(x, alpha);
    case UnaryOp::LeakyRelu: return x > T(0) ? x : alpha * x;
    case UnaryOp::Clamp: return std::min(std::max(x, alpha), beta);
    case UnaryOp::InsideMask: return (x > alpha && x < beta) ? T(1) : T(0);
    case UnaryOp::GreaterScalar: return x > alpha ? T(1) : T(0);
    case UnaryOp::LessScalar: return x < alpha ? T(1) : T(0);
  }
  return T(0);
}

// Turns the run-time op into a compile-time constant, so the switch in apply_* folds away and
// each loop below is specialised per op.
template <typename Fn>
void with_op(BinaryOp op, Fn&& fn) {
  switch (op) {
#define EMBER_CASE(name) case BinaryOp::name: return fn(std::integral_constant<BinaryOp, BinaryOp::name>{});
    EMBER_CASE(Add) EMBER_CASE(Sub) EMBER_CASE(Mul) EMBER_CASE(Div) EMBER_CASE(Equal)
    EMBER_CASE(ReluGrad) EMBER_CASE(LeakyReluGrad) EMBER_CASE(SigmoidGrad) EMBER_CASE(TanhGrad)
    EMBER_CASE(SiluGrad)
#undef EMBER_CASE
  }
}

template <typename Fn>
void with_op(UnaryOp op, Fn&& fn) {
  switch (op) {
#define EMBER_CASE(name) case UnaryOp::name: return fn(std::integral_constant<UnaryOp, UnaryOp::name>{});
    EMBER_CASE(Neg) EMBER_CASE(Reciprocal) EMBER_CASE(Sqrt) EMBER_CASE(Rsqrt) EMBER_CASE(Exp)
    EMBER_CASE(Log) EMBER_CASE(Abs) EMBER_CASE(Sign) EMBER_CASE(Relu) EMBER_CASE(Sigmoid)
    EMBER_CASE(Tanh) EMBER_CASE(Silu) EMBER_CASE(AddScalar) EMBER_CASE(MulScalar) EMBER_CASE(Pow)
    EMBER_CASE(LeakyRelu) EMBER_CASE(Clamp) EMBER_CASE(InsideMask) EMBER_CASE(GreaterScalar)
    EMBER_CASE(LessScalar)
#undef EMBER_CASE
  }
}

// float32 silu, sigmoid and silu_grad over contiguous buffers, the swish of every EfficientNet
// layer: compiled twice, for x86-64-v3 (AVX2 + FMA, 8 lanes) and the baseline (SSE2), and the
// loader picks the clone the CPU runs (GCC's target_clones); the math is apply_* above, the same
// as every other path.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define EMBER_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define EMBER_CPU_CLONES
#endif
EMBER_CPU_CLONES void silu_f32(float* __restrict o, const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = x[i] * sigmoid_of(x[i]);
}
EMBER_CPU_CLONES void sigmoid_f32(float* __restrict o, const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = sigmoid_of(x[i]);
}
EMBER_CPU_CLONES void silu_grad_f32(float* __restrict o, const float* __restrict g,
                                    const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float s = sigmoid_of(x[i]);
    o[i] = g[i] * s * (1.0f + x[i] * (1.0f - s));
  }
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
      if constexpr (kOp == BinaryOp::Equal) binary_typed<kOp, T, uint8_t>(out, a, b, T(alpha));
      else binary_typed<kOp, T, T>(out, a, b, T(alpha));
    });
  });
}

void unary(UnaryOp op, const Tensor& out, const Tensor& x, double alpha, double beta) {
  dispatch_float(x.dtype(), "unary elementwise", [&](auto tag) {
    using T = typename decltype(tag)::type;
    with_op(op, [&](auto op_tag) {
      constexpr UnaryOp kOp = decltype(op_tag)::value;
      if constexpr (kOp == UnaryOp::GreaterScalar || kOp == UnaryOp::LessScalar)
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
      for (int64_t i = 0; i < n; ++i) s[i] += a * po[i];
      return;
    }
    const Shape so = broadcast_strides(other, self.shape());
    for_each_strided<2>(self.shape(), {self.strides().data(), so.data()},
                        [&](const std::array<int64_t, 2>& off) { s[off[0]] += a * po[off[1]]; });
  });
}

}  // namespace ember::kernels::cpu
