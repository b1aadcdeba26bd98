// exp for float32 written so that the compiler vectorises the loops that call it (std::exp is an
// opaque libm call per element; with AVX2 + FMA the silu loop runs ~3x faster than with libm): the CPU silu / sigmoid kernels and their gradients
// (kernels/cpu/elementwise.cpp), where libm's expf took ~20% of an EfficientNetB2 training step
// (docs/cpu_performance.md). float64 keeps std::exp (gradient checks run in float64).
// Method: exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2] (ln 2 in
// two parts so r is exact), exp(r) by its degree-7 Taylor polynomial (truncation < 1e-8
// relative), 2^n built in the exponent bits. Inputs are clamped to [-87.3, 88.37] so 2^n stays a
// normal float: exp of anything below -87.3 comes out ~1e-38 instead of a denormal or 0, and of
// anything above 88.37 ~2.4e38 instead of inf, which leaves sigmoid and silu exact to float
// precision; NaN stays NaN. Accuracy: within 2 ulp of the correctly rounded result on
// [-87.3, 88.37]. Tested in tests/test_elementwise.cpp (FastExp*) against std::exp in double.
#pragma once
#include <cstdint>
#include <cstring>

namespace ember::kernels::cpu {

// always_inline: the callers are compiled twice (AVX2 and baseline clones, elementwise.cpp), and
// GCC does not inline a baseline-target function into an AVX2 clone on its own; a call per
// element would undo the vectorisation.
[[gnu::always_inline]] inline float fast_exp(float x) {
  // Written as max/min so the compiler emits maxps/minps (no branch, so the loop vectorises);
  // a NaN x passes through both (the comparisons are false).
  x = x < -87.3f ? -87.3f : x;
  x = 88.37f < x ? 88.37f : x;
  // round(x * log2 e) without a rounding instruction: adding 1.5 * 2^23 rounds to an integer.
  constexpr float kShift = 12582912.0f;
  const float n = (x * 1.44269504088896341f + kShift) - kShift;
  const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

}  // namespace ember::kernels::cpu
