// CPU reference for random-number kernels: one loop per kernel, element i filled from the
// Philox block at counter (draw.first_counter + i) by the recipes in tensor/philox.h, the same
// functions kernels/cuda/random.cu calls, so both devices produce the same numbers. Each
// element depends only on its own counter, so the OpenMP split cannot change the result.
// Tested in tests/test_random.cpp (known answers, moments, CPU vs CUDA).
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <type_traits>

#include "kernels/random.h"
#include "tensor/philox.h"

namespace ember::kernels::cpu {

namespace {

// The value recipes, one per dtype: a uniform in [0, 1) and a standard normal.
inline float uniform_of(const philox::Block& b, float) { return philox::uniform_float(b.v[0]); }
inline double uniform_of(const philox::Block& b, double) {
  return philox::uniform_double(b.v[0], b.v[1]);
}
inline float normal_of(const philox::Block& b, float) { return philox::normal_float(b); }
inline double normal_of(const philox::Block& b, double) { return philox::normal_double(b); }

// A draw whose state sits in device memory belongs to a captured CUDA graph; the CPU never runs
// one (and could not read the state).
void check_host_draw(const PhiloxDraw& draw, const char* op) {
  EMBER_CHECK(draw.device_state == nullptr, op, " on the CPU: the draw reads its Philox state "
              "from device memory (a draw captured into a CUDA graph); CPU kernels take the seed "
              "and first counter as values");
}

}  // namespace

void fill_uniform(const Tensor& out, const PhiloxDraw& draw, double low, double high) {
  check_host_draw(draw, "fill_uniform");
  const uint64_t seed = draw.seed, first_counter = draw.first_counter;
  dispatch_float(out.dtype(), "fill_uniform", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = static_cast<T*>(out.raw_data());  // [numel], contiguous
    const T lo = static_cast<T>(low), scale = static_cast<T>(high - low);
    const int64_t n = out.numel();
#pragma omp parallel for if (n > 32768)
    for (int64_t i = 0; i < n; ++i) {
      const philox::Block b = philox::element_block(seed, first_counter, static_cast<uint64_t>(i));
      o[i] = philox::fma_rn(uniform_of(b, T()), scale, lo);
    }
  });
}

void fill_normal(const Tensor& out, const PhiloxDraw& draw, double mean, double std) {
  check_host_draw(draw, "fill_normal");
  const uint64_t seed = draw.seed, first_counter = draw.first_counter;
  dispatch_float(out.dtype(), "fill_normal", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = static_cast<T*>(out.raw_data());  // [numel], contiguous
    const T m = static_cast<T>(mean), s = static_cast<T>(std);
    const int64_t n = out.numel();
#pragma omp parallel for if (n > 16384)
    for (int64_t i = 0; i < n; ++i) {
      const philox::Block b = philox::element_block(seed, first_counter, static_cast<uint64_t>(i));
      o[i] = philox::fma_rn(normal_of(b, T()), s, m);
    }
  });
}

void fill_bernoulli(const Tensor& out, const PhiloxDraw& draw, double p) {
  check_host_draw(draw, "fill_bernoulli");
  const uint64_t seed = draw.seed, first_counter = draw.first_counter;
  const uint64_t threshold = philox::bernoulli_threshold(p);
  auto fill = [&](auto* o) {  // [numel], contiguous
    using T = std::remove_pointer_t<decltype(o)>;
    const int64_t n = out.numel();
#pragma omp parallel for if (n > 32768)
    for (int64_t i = 0; i < n; ++i) {
      const philox::Block b = philox::element_block(seed, first_counter, static_cast<uint64_t>(i));
      o[i] = philox::bernoulli_draw(b, threshold) ? T(1) : T(0);
    }
  };
  switch (out.dtype()) {
    case DType::Float32: fill(static_cast<float*>(out.raw_data())); break;
    case DType::Float64: fill(static_cast<double*>(out.raw_data())); break;
    case DType::UInt8: fill(static_cast<uint8_t*>(out.raw_data())); break;
    default: EMBER_FAIL("fill_bernoulli: out must be float32, float64 or uint8, got ", out.describe());
  }
}

void random_keys(const Tensor& out, const PhiloxDraw& draw) {
  check_host_draw(draw, "random_keys");
  const uint64_t seed = draw.seed, first_counter = draw.first_counter;
  int64_t* o = out.data<int64_t>();  // [n]
  const int64_t n = out.numel();
#pragma omp parallel for if (n > 32768)
  for (int64_t i = 0; i < n; ++i)
    o[i] = philox::element_block(seed, first_counter, static_cast<uint64_t>(i)).v[0];
}

void permutation_from_keys(const Tensor& perm, const Tensor& keys) {
  const int64_t* key = keys.data<int64_t>();  // [n]
  int64_t* p = perm.data<int64_t>();          // [n]
  const int64_t n = perm.numel();
  std::iota(p, p + n, int64_t{0});
  std::stable_sort(p, p + n, [&](int64_t a, int64_t b) { return key[a] < key[b]; });
}

}  // namespace ember::kernels::cpu
