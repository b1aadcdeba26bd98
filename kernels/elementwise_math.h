// Every elementwise formula (the ops of kernels/elementwise.h), written once and compiled for both
// the CPU loops (kernels/cpu/elementwise.cpp, their float32 fast paths included) and the CUDA
// kernels (kernels/cuda/elementwise.cu), so the two devices cannot drift apart; the same pattern
// as kernels/optim_step.h. Tests: tests/test_elementwise.cpp, tests/test_activation.cpp (values,
// gradients), tests/test_cuda_elementwise.cpp (CPU vs GPU), tools/emulate_cuda (family
// pointwise: the CUDA side run on the host against the CPU).
//
// The formulas call their libm functions through a math policy M, so each device keeps the
// calls it has always made:
//   CpuMath:  std::exp, std::log, ... ; inside sigmoid and silu float32 takes fast_exp
//             (kernels/cpu/fast_exp.h, within 2 ulp, vectorisable), float64 std::exp.
//   CudaMath: CUDA's expf / exp, logf / log, ... (float / double overloads).
// A policy rather than a choice by __CUDA_ARCH__: tools/emulate_cuda compiles the .cu files with
// g++, where __CUDA_ARCH__ is never defined, and must still run the CUDA side's arithmetic.
#pragma once
#include <math.h>  // the ::expf, ::exp, ... that CudaMath calls

#include <cmath>

#include "kernels/cpu/fast_exp.h"
#include "kernels/elementwise.h"

#ifdef __CUDACC__
#define EMBER_POINTWISE_FN __host__ __device__ __forceinline__
#elif defined(__GNUC__)
// always_inline: the CPU's float32 loops are compiled as AVX2 and baseline clones
// (target_clones), and GCC inlines into a clone of another target only when forced; a call per
// element would undo the vectorisation.
#define EMBER_POINTWISE_FN __attribute__((always_inline)) inline
#else
#define EMBER_POINTWISE_FN inline
#endif

#if defined(__GNUC__)
#define EMBER_CPU_MATH_FN __attribute__((always_inline)) static inline
#else
#define EMBER_CPU_MATH_FN static inline
#endif

namespace ember::kernels::pointwise {

struct CpuMath {
  template <typename T> EMBER_CPU_MATH_FN T exp(T x) { return std::exp(x); }
  template <typename T> EMBER_CPU_MATH_FN T sigmoid_exp(T x) {
    if constexpr (std::is_same_v<T, float>) return cpu::fast_exp(x);
    else return std::exp(x);
  }
  template <typename T> EMBER_CPU_MATH_FN T log(T x) { return std::log(x); }
  template <typename T> EMBER_CPU_MATH_FN T log1p(T x) { return std::log1p(x); }
  template <typename T> EMBER_CPU_MATH_FN T sqrt(T x) { return std::sqrt(x); }
  template <typename T> EMBER_CPU_MATH_FN T tanh(T x) { return std::tanh(x); }
  template <typename T> EMBER_CPU_MATH_FN T pow(T x, T p) { return std::pow(x, p); }
  template <typename T> EMBER_CPU_MATH_FN T abs(T x) { return std::abs(x); }
};

struct CudaMath {
  static EMBER_POINTWISE_FN float exp(float x) { return expf(x); }
  static EMBER_POINTWISE_FN double exp(double x) { return ::exp(x); }
  template <typename T> static EMBER_POINTWISE_FN T sigmoid_exp(T x) { return exp(x); }
  static EMBER_POINTWISE_FN float log(float x) { return logf(x); }
  static EMBER_POINTWISE_FN double log(double x) { return ::log(x); }
  static EMBER_POINTWISE_FN float log1p(float x) { return log1pf(x); }
  static EMBER_POINTWISE_FN double log1p(double x) { return ::log1p(x); }
  static EMBER_POINTWISE_FN float sqrt(float x) { return sqrtf(x); }
  static EMBER_POINTWISE_FN double sqrt(double x) { return ::sqrt(x); }
  static EMBER_POINTWISE_FN float tanh(float x) { return tanhf(x); }
  static EMBER_POINTWISE_FN double tanh(double x) { return ::tanh(x); }
  static EMBER_POINTWISE_FN float pow(float x, float p) { return powf(x, p); }
  static EMBER_POINTWISE_FN double pow(double x, double p) { return ::pow(x, p); }
  static EMBER_POINTWISE_FN float abs(float x) { return fabsf(x); }
  static EMBER_POINTWISE_FN double abs(double x) { return ::fabs(x); }
};

// ---- shared pieces: used by several ops and by the CPU's float32 fast paths ----

// 1 / (1 + exp(-x)) saturates to 0 or 1 without NaN.
template <class M, typename T> EMBER_POINTWISE_FN T sigmoid(T x) {
  return T(1) / (T(1) + M::sigmoid_exp(-x));
}
template <class M, typename T> EMBER_POINTWISE_FN T silu(T x) { return x * sigmoid<M>(x); }
// d silu / dx = s * (1 + x * (1 - s)), s = sigmoid(x); g the incoming gradient.
template <class M, typename T> EMBER_POINTWISE_FN T silu_grad(T g, T x) {
  const T s = sigmoid<M>(x);
  return g * s * (T(1) + x * (T(1) - s));
}

// log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)): exp never overflows, and no precision is lost
// for large |x|. Its derivative is sigmoid(x), exactly.
template <class M, typename T> EMBER_POINTWISE_FN T softplus(T x) {
  return (x > T(0) ? x : T(0)) + M::log1p(M::exp(-M::abs(x)));
}

// add_inplace: self + alpha * other.
template <typename T> EMBER_POINTWISE_FN T axpy(T self, T alpha, T other) {
  return self + alpha * other;
}

template <auto op> inline constexpr bool kNoFormula = false;

// ---- one formula per op ----
// Each returns a T, except the mask ops (writes_mask), which return a bool that the caller
// stores as a uint8 0 or 1.

template <class M, BinaryOp op, typename T>
EMBER_POINTWISE_FN auto binary_formula(T a, T b, T alpha) {
  if constexpr (op == BinaryOp::Add) return a + b;
  else if constexpr (op == BinaryOp::Sub) return a - b;
  else if constexpr (op == BinaryOp::Mul) return a * b;
  else if constexpr (op == BinaryOp::Div) return a / b;
  else if constexpr (op == BinaryOp::Equal) return a == b;
  else if constexpr (op == BinaryOp::ReluGrad) return b > T(0) ? a : T(0);
  else if constexpr (op == BinaryOp::LeakyReluGrad) return b > T(0) ? a : a * alpha;
  else if constexpr (op == BinaryOp::SigmoidGrad) return a * b * (T(1) - b);
  else if constexpr (op == BinaryOp::TanhGrad) return a * (T(1) - b * b);
  else if constexpr (op == BinaryOp::SiluGrad) return silu_grad<M>(a, b);
  else if constexpr (op == BinaryOp::SoftplusGrad) return a * sigmoid<M>(b);
  else static_assert(kNoFormula<op>, "a BinaryOp without a formula");
}

template <class M, UnaryOp op, typename T>
EMBER_POINTWISE_FN auto unary_formula(T x, T alpha, T beta) {
  if constexpr (op == UnaryOp::Neg) return -x;
  else if constexpr (op == UnaryOp::Reciprocal) return T(1) / x;
  else if constexpr (op == UnaryOp::Sqrt) return M::sqrt(x);
  else if constexpr (op == UnaryOp::Rsqrt) return T(1) / M::sqrt(x);  // not CUDA's rsqrt()
  else if constexpr (op == UnaryOp::Exp) return M::exp(x);
  else if constexpr (op == UnaryOp::Log) return M::log(x);
  else if constexpr (op == UnaryOp::Abs) return M::abs(x);
  else if constexpr (op == UnaryOp::Sign) return T((x > T(0)) - (x < T(0)));
  else if constexpr (op == UnaryOp::Relu) return x > T(0) ? x : T(0);
  else if constexpr (op == UnaryOp::Sigmoid) return sigmoid<M>(x);
  else if constexpr (op == UnaryOp::Tanh) return M::tanh(x);
  else if constexpr (op == UnaryOp::Silu) return silu<M>(x);
  else if constexpr (op == UnaryOp::Softplus) return softplus<M>(x);
  else if constexpr (op == UnaryOp::AddScalar) return x + alpha;
  else if constexpr (op == UnaryOp::MulScalar) return x * alpha;
  else if constexpr (op == UnaryOp::Pow) return M::pow(x, alpha);
  else if constexpr (op == UnaryOp::LeakyRelu) return x > T(0) ? x : alpha * x;
  else if constexpr (op == UnaryOp::Clamp) {
    // std::min(std::max(x, alpha), beta) spelled out (the same comparisons), for the GPU.
    const T lo = x < alpha ? alpha : x;
    return beta < lo ? beta : lo;
  } else if constexpr (op == UnaryOp::InsideMask) return (x > alpha && x < beta) ? T(1) : T(0);
  else if constexpr (op == UnaryOp::GreaterScalar) return x > alpha;
  else if constexpr (op == UnaryOp::LessScalar) return x < alpha;
  else static_assert(kNoFormula<op>, "a UnaryOp without a formula");
}

}  // namespace ember::kernels::pointwise
