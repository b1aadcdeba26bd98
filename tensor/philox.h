// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the
// counter-based generator behind every random tensor. Compiles for host and device, so the CPU
// and GPU produce bit-identical uint32 streams and therefore identical uniforms; normals go
// through logf/cosf and agree to float rounding.
//
// Element i of a draw at generator offset `o` uses its own block, counter (o + i), key = seed:
// float uniforms read lane 0, double uniforms lanes 0-1; normals are Box-Muller (cosine branch)
// on two uniforms of the same block. One block per element wastes a little arithmetic and buys
// a mapping that does not depend on how work is split across threads.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define EMBER_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define EMBER_HOST_DEVICE inline
#endif

namespace ember::philox {

struct Block { uint32_t v[4]; };

EMBER_HOST_DEVICE void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
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

}  // namespace ember::philox
