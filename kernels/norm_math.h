// The per-channel arithmetic of the fused batch norm + activation kernels (kernels/norm.h),
// written once for the CPU reference (kernels/cpu/norm.cpp) and the CUDA kernels
// (kernels/cuda/norm.cu), as kernels/elementwise_math.h does for the pointwise ops: the one-pass
// statistics and their merge, the per-channel constants, the running average, and the
// activation with its derivative. Derivation of the backward: docs/batch_norm_swish.md.
// Tested through tests/test_norm.cpp, tests/test_cuda_norm.cpp and tools/emulate_cuda (norm).
#pragma once
#include "kernels/elementwise_math.h"

namespace ember::kernels::norm_math {

// count values summarised by their mean and centred sum of squares m2 = sum (v - mean)^2.
struct Moments {
  double count, mean, m2;
};

// A block's moments from sums about a shift k taken from the block (its first value):
// s1 = sum (v - k), s2 = sum (v - k)^2. With k near the values, s2 - s1^2 / count does not
// cancel the way sum v^2 - (sum v)^2 / count does. count > 0.
EMBER_POINTWISE_FN Moments moments_from_shifted_sums(double count, double k, double s1,
                                                      double s2) {
  const double m2 = s2 - s1 * (s1 / count);
  return {count, k + s1 / count, m2 > 0.0 ? m2 : 0.0};  // rounding may leave m2 a hair below 0
}

// Two disjoint sets' moments combined (Chan, Golub and LeVeque, "Algorithms for computing the
// sample variance", 1983). An empty a gives b exactly.
EMBER_POINTWISE_FN Moments merge_moments(Moments a, Moments b) {
  if (b.count == 0.0) return a;
  const double count = a.count + b.count, delta = b.mean - a.mean;
  return {count, a.mean + delta * (b.count / count),
          a.m2 + b.m2 + delta * delta * (a.count * b.count / count)};
}

// The batch mean, biased variance and 1 / sqrt(var + eps), as stored in T. No values: NaN.
template <typename T>
struct ChannelStats {
  T mean, var, invstd;
};
template <typename T>
EMBER_POINTWISE_FN ChannelStats<T> channel_stats(Moments m, double eps) {
  const double var = m.m2 / m.count;  // 0 / 0 = NaN when count is 0
  return {static_cast<T>(m.count > 0.0 ? m.mean : var), static_cast<T>(var),
          static_cast<T>(1.0 / ::sqrt(var + eps))};
}

// The constants of z = (x - mean) * scale + shift in T. scale comes from invstd as stored, so
// the forward and the backward (which has only the stored invstd) compute the same z.
template <typename T>
struct Affine {
  T mean, invstd, scale, shift;
};
template <typename T>
EMBER_POINTWISE_FN Affine<T> affine_of(T mean, T invstd, double weight, double bias) {
  return {mean, invstd, static_cast<T>(static_cast<double>(invstd) * weight),
          static_cast<T>(bias)};
}

// Keras's running average; the variance passes factor = count / (count - 1) for the unbiased
// update. The same expression as kernels::batch_norm_update_running_stats.
EMBER_POINTWISE_FN double running_average(double old, double batch, double momentum,
                                          double factor) {
  return momentum * old + (1.0 - momentum) * batch * factor;
}

// y = act(z) and dL/dz = dy * act'(z): the identity, or swish (pointwise::silu and silu_grad,
// the very formulas of the unfused silu op).
template <class M, bool kSwish, typename T>
EMBER_POINTWISE_FN T activation(T z) {
  if constexpr (kSwish) return pointwise::silu<M>(z);
  else return z;
}
template <class M, bool kSwish, typename T>
EMBER_POINTWISE_FN T activation_grad(T dy, T z) {
  if constexpr (kSwish) return pointwise::silu_grad<M>(dy, z);
  else return dy;
}

}  // namespace ember::kernels::norm_math
