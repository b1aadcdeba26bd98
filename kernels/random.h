// Contract for random-number kernels (CPU: kernels/cpu/random.cpp; CUDA: kernels/cuda/random.cu).
// Every kernel fills a preallocated contiguous `out` of any shape; element i (row-major) is a
// pure function of (seed, first_counter + i) through the Philox recipes in tensor/philox.h, so
// the two devices agree element for element: bit for bit for uniforms, Bernoulli draws, keys and
// float32 normals; to a few ulp for float64 normals. The caller reserves the counters
// (RandomGenerator::reserve_draw) and passes the draw's PhiloxDraw (tensor/random.h): (seed,
// first_counter) as values, or, for a draw captured into a CUDA graph, read from device_state
// when the kernel runs (CUDA only; the CPU kernels refuse it). Kernels never touch a
// RandomGenerator. Mapping and reasoning: docs/rng.md.
#pragma once
#include <cstdint>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace ember::kernels {

// float32/float64: low + (high - low) * u, u in [0, 1) (lane 0, or lanes 0-1 for float64),
// computed as one fma in out's dtype.
void fill_uniform(const Tensor& out, const PhiloxDraw& draw, double low, double high);
// float32/float64: mean + std * z, z standard normal (Box-Muller, cosine branch), as one fma.
void fill_normal(const Tensor& out, const PhiloxDraw& draw, double mean, double std);
// float32/float64/uint8: 1 with probability p (lane 0 < floor(p 2^32)), else 0.
void fill_bernoulli(const Tensor& out, const PhiloxDraw& draw, double p);
// int64: lane 0 of each block, a uint32 key in [0, 2^32); randperm sorts them.
void random_keys(const Tensor& out, const PhiloxDraw& draw);
// perm int64 [n] (preallocated, contiguous, keys' device) = the indices 0..n-1 ordered by
// (keys[i], i): a stable sort of the keys of random_keys, so ties keep index order and both
// devices give the same permutation.
void permutation_from_keys(const Tensor& perm, const Tensor& keys);
// An eager uniform draw at (seed, first_counter), for callers that hold no generator (benchmarks).
inline void fill_uniform(const Tensor& out, uint64_t seed, uint64_t first_counter, double low,
                         double high) {
  fill_uniform(out, PhiloxDraw{seed, first_counter, nullptr}, low, high);
}

namespace cpu {
void fill_uniform(const Tensor& out, const PhiloxDraw& draw, double low, double high);
void fill_normal(const Tensor& out, const PhiloxDraw& draw, double mean, double std);
void fill_bernoulli(const Tensor& out, const PhiloxDraw& draw, double p);
void random_keys(const Tensor& out, const PhiloxDraw& draw);
void permutation_from_keys(const Tensor& perm, const Tensor& keys);
}  // namespace cpu

#ifdef EMBER_WITH_CUDA
namespace cuda {
void fill_uniform(const Tensor& out, const PhiloxDraw& draw, double low, double high);
void fill_normal(const Tensor& out, const PhiloxDraw& draw, double mean, double std);
void fill_bernoulli(const Tensor& out, const PhiloxDraw& draw, double p);
void random_keys(const Tensor& out, const PhiloxDraw& draw);
void permutation_from_keys(const Tensor& perm, const Tensor& keys);
}  // namespace cuda
#endif

}  // namespace ember::kernels
