// The formula of the input preprocessing kernel (kernels/preprocess.h), written once and compiled
// for the CPU loop (kernels/cpu/preprocess.cpp) and the CUDA kernel (kernels/cuda/preprocess.cu).
// Each step is the formula of the elementwise op it replaces (kernels/elementwise_math.h), so the
// fused pass rounds exactly as Rescaling then Normalization did as separate ops.
#pragma once
#include <limits>

#include "kernels/elementwise_math.h"

namespace ember::kernels::pointwise {

// One correctly rounded product that nvcc may not contract with the subtraction that follows
// into an fma (the separate ops rounded the product on its own). The CPU kernels are compiled
// with -ffp-contract=off, and tools/emulate_cuda compiles this for the host, without
// __CUDA_ARCH__.
template <typename T> EMBER_POINTWISE_FN T mul_rn(T a, T b) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) return __fmul_rn(a, b);
  else return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

// 1 / max(sqrt(variance), eps): Normalization's divisor, by the ops it ran (Sqrt, Clamp with no
// upper bound, Reciprocal).
template <class M, typename T> EMBER_POINTWISE_FN T normalization_factor(T variance, T eps) {
  const T root = unary_formula<M, UnaryOp::Sqrt>(variance, T(0), T(0));
  const T clamped =
      unary_formula<M, UnaryOp::Clamp>(root, eps, std::numeric_limits<T>::infinity());
  return unary_formula<M, UnaryOp::Reciprocal>(clamped, T(0), T(0));
}

// One element: Rescaling (x * scale, then + offset when there is one) and Normalization
// ((y - mean) * factor). mean 0 and factor 1 leave the rescaled value as it is.
template <typename T>
EMBER_POINTWISE_FN T rescale_normalize_element(T x, T scale, T offset, bool has_offset, T mean,
                                               T factor) {
  T y = mul_rn(x, scale);
  if (has_offset) y = y + offset;
  return (y - mean) * factor;
}

}  // namespace ember::kernels::pointwise
