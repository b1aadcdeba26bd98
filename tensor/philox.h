// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the
// counter-based generator behind every random tensor, plus the per-element recipes that turn a
// block into a value. Everything here compiles for host and device, so the CPU and the GPU
// produce bit-identical uint32 streams, uniforms, Bernoulli draws and float32 normals (the
// float32 normal uses its own fma-only log and cos below instead of the libraries' logf/cosf,
// which differ between glibc and CUDA by an ulp or two). float64 normals use the libraries' log
// and cos and agree to a few ulp. Derivations and the reasoning: docs/rng.md.
// Tested against the Random123 known-answer vectors in tests/test_random.cpp.
//
// Element i of a draw at generator offset `o` uses its own block, counter (o + i), key = seed:
// float uniforms read lane 0, double uniforms lanes 0-1; normals are Box-Muller (cosine branch)
// on two uniforms of the same block (lanes 0 and 1 for float, 0-1 and 2-3 for double). One
// block per element wastes a little arithmetic and buys a mapping that does not depend on how
// work is split across threads.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define EMBER_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define EMBER_HOST_DEVICE inline
#endif

namespace ember::philox {

struct Block { uint32_t v[4]; };

EMBER_HOST_DEVICE void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
#if defined(__CUDA_ARCH__)
  hi = __umulhi(a, b);  // one 32-bit multiply-high instead of a 64-bit product
  lo = a * b;
#else
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
#endif
}

// Ten rounds over the 128-bit counter (c0..c3) with the 64-bit key.
EMBER_HOST_DEVICE Block philox4x32_10(uint64_t counter_lo, uint64_t counter_hi, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, hi0, lo0);
    mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Block{{c0, c1, c2, c3}};
}

// Uniform in [0, 1) with 24 bits (float) or 53 bits from two words (double).
EMBER_HOST_DEVICE float uniform_float(uint32_t x) { return (x >> 8) * (1.0f / 16777216.0f); }
EMBER_HOST_DEVICE double uniform_double(uint32_t a, uint32_t b) {
  const uint64_t bits = (static_cast<uint64_t>(a) << 21) ^ (b >> 11);
  return (bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

// The block of element i of a draw whose first counter is `first`: counter (first + i), key seed.
EMBER_HOST_DEVICE Block element_block(uint64_t seed, uint64_t first, uint64_t i) {
  return philox4x32_10(first + i, 0, seed);
}

// --- float arithmetic that rounds the same way on host and device ---------------------------
// Each helper is one correctly rounded IEEE operation on both sides. On the device the _rn
// intrinsics keep nvcc from contracting a*b+c into an fma of its own choosing (and survive
// --use_fast_math). On the host every fma is explicit, and the one plain product that feeds a
// plain add (k * 2^-e - 1 in the log) is exact, so a host build that enables FMA contraction
// (-march=native) computes the same bits too.
EMBER_HOST_DEVICE float fma_rn(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}
EMBER_HOST_DEVICE double fma_rn(double a, double b, double c) {
#if defined(__CUDA_ARCH__)
  return __fma_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}
EMBER_HOST_DEVICE float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
EMBER_HOST_DEVICE float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
EMBER_HOST_DEVICE float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
EMBER_HOST_DEVICE float sqrt_rn(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}
// Number of significant bits of k (k > 0): 1 + floor(log2 k).
EMBER_HOST_DEVICE int bit_width(uint32_t k) {
#if defined(__CUDA_ARCH__)
  return 32 - __clz(static_cast<int>(k));
#else
  return std::bit_width(k);
#endif
}

// ln(k * 2^-24) for an integer k in [1, 2^24], in float, within ~2 ulp. k = m * 2^e with
// m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172, by its
// series 2s + s^3 * (2/3 + s^2 (2/5 + ...)) (truncation below 1e-10); ln 2 is split into a
// 24-bit-exact high part and a low correction so e * ln2 adds no rounding of its own.
EMBER_HOST_DEVICE float log_of_24bit_fraction(uint32_t k) {
  int e = bit_width(k) - 1;                                   // k in [2^e, 2^(e+1))
  const float scale = mul_rn(static_cast<float>(1u << (24 - e)), 5.9604644775390625e-8f);  // 2^-e
  float m = mul_rn(static_cast<float>(k), scale);            // exact, in [1, 2)
  if (m > 1.41421356f) { m = mul_rn(m, 0.5f); e += 1; }    // now [sqrt(1/2), sqrt(2))
  const float f = add_rn(m, -1.0f);                          // exact (Sterbenz)
  const float s = div_rn(f, add_rn(2.0f, f));
  const float z = mul_rn(s, s);
  // Coefficients 2/11, 2/9, 2/7, 2/5, 2/3 as literals (decimal-to-float is correctly rounded by
  // both compilers, so host and device see the same bits).
  float p = fma_rn(z, 0.181818182f, 0.222222222f);
  p = fma_rn(z, p, 0.285714286f);
  p = fma_rn(z, p, 0.4f);
  p = fma_rn(z, p, 0.666666667f);
  const float log_m = fma_rn(mul_rn(s, z), p, add_rn(s, s));
  const float exponent = static_cast<float>(e - 24);
  constexpr float kLn2Hi = 0.693145751953125f;      // ln 2 cut to 15 bits: exact products
  constexpr float kLn2Lo = 1.42860682028622e-06f;   // ln 2 - kLn2Hi
  return fma_rn(exponent, kLn2Hi, fma_rn(exponent, kLn2Lo, log_m));
}

// cos(2 pi j 2^-24) for an integer j in [0, 2^24), in float, within ~2 ulp. The angle in
// quarter turns is j 2^-22 = q + f with q the nearest integer and f in [-1/2, 1/2] (both exact
// integer arithmetic); cos(pi/2 (q + f)) is +-cos or +-sin of pi/2 f by the quadrant q mod 4,
// each a Taylor polynomial in f (truncation below 2e-9 for |pi/2 f| <= pi/4).
EMBER_HOST_DEVICE float cos_of_24bit_turn(uint32_t j) {
  const uint32_t q = (j + (1u << 21)) >> 22;                         // nearest quarter turn
  const int32_t r = static_cast<int32_t>(j) - static_cast<int32_t>(q << 22);  // in [-2^21, 2^21)
  const float f = mul_rn(static_cast<float>(r), 2.384185791015625e-7f);  // r 2^-22, exact
  const float t = mul_rn(f, f);
  // cos(pi/2 f) = sum_k (-1)^k (pi/2)^(2k) f^(2k) / (2k)!
  float c = fma_rn(t, -2.52020424e-05f, 9.19260275e-04f);
  c = fma_rn(t, c, -2.08634808e-02f);
  c = fma_rn(t, c, 2.53669508e-01f);
  c = fma_rn(t, c, -1.23370055f);
  c = fma_rn(t, c, 1.0f);
  // sin(pi/2 f) = sum_k (-1)^k (pi/2)^(2k+1) f^(2k+1) / (2k+1)!
  float sn = fma_rn(t, 1.60441185e-04f, -4.68175413e-03f);
  sn = fma_rn(t, sn, 7.96926262e-02f);
  sn = fma_rn(t, sn, -6.45964098e-01f);
  sn = fma_rn(t, sn, 1.57079633f);
  sn = mul_rn(sn, f);
  switch (q & 3u) {
    case 0: return c;     // cos(x)
    case 1: return -sn;   // cos(pi/2 + x) = -sin(x)
    case 2: return -c;    // cos(pi + x) = -cos(x)
    default: return sn;   // cos(3pi/2 + x) = sin(x)
  }
}

// Standard normal from one block, float32: Box-Muller, cosine branch, u1 = 1 - lane0/2^32 in
// (0, 1] (24 bits, never 0, so the log is finite) and the angle from lane 1.
EMBER_HOST_DEVICE float normal_float(const Block& b) {
  const uint32_t k = (1u << 24) - (b.v[0] >> 8);   // u1 = k 2^-24, k in [1, 2^24]
  const float radius = sqrt_rn(mul_rn(-2.0f, log_of_24bit_fraction(k)));
  return mul_rn(radius, cos_of_24bit_turn(b.v[1] >> 8));
}

// Standard normal from one block, float64: u1 = 1 - (53-bit uniform of lanes 0-1) in (0, 1],
// u2 from lanes 2-3. Uses the library log/cos (glibc and CUDA agree to a few ulp).
EMBER_HOST_DEVICE double normal_double(const Block& b) {
  const double u1 = 1.0 - uniform_double(b.v[0], b.v[1]);
  const double u2 = uniform_double(b.v[2], b.v[3]);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// Bernoulli(p) from lane 0: true when lane0 < threshold, with threshold = floor(p 2^32) in
// [0, 2^32] (computed once on the host), so P(true) = p to within 2^-32 and p = 1 is always true.
inline uint64_t bernoulli_threshold(double p) {
  if (!(p > 0.0)) return 0;
  if (p >= 1.0) return 1ull << 32;
  return static_cast<uint64_t>(p * 4294967296.0);
}
EMBER_HOST_DEVICE bool bernoulli_draw(const Block& b, uint64_t threshold) {
  return static_cast<uint64_t>(b.v[0]) < threshold;
}

}  // namespace ember::philox
