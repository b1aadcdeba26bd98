// Helpers of the emulated-CUDA checks (tools/emulate_cuda/check_*.cpp): random inputs, and a
// comparison that prints the maximum error of every case and counts failures.
#pragma once
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace emu_check {

using namespace ember;

inline int failures = 0;
inline int cases = 0;

inline Tensor rnd(const Shape& s, uint64_t seed, DType dt = DType::Float32, double lo = -1,
                  double hi = 1) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(numel_of(s));
  for (auto& x : v) x = d(g);
  return from_vector(v, s, {.dtype = dt});
}

inline std::string dt_name(DType dt) { return dtype_name(dt); }

// got vs want element by element: passes when |got - want| <= atol + rtol * |want| everywhere
// (NaN matches NaN). Prints the maximum absolute and relative errors.
inline void cmp(const Tensor& got, const Tensor& want, double rtol, double atol,
                const std::string& what) {
  ++cases;
  if (got.shape() != want.shape()) {
    std::printf("FAIL %-58s shape %s vs %s\n", what.c_str(), shape_str(got.shape()).c_str(),
                shape_str(want.shape()).c_str());
    ++failures;
    return;
  }
  const auto x = got.contiguous().to_vector<double>(), y = want.contiguous().to_vector<double>();
  double max_abs = 0, max_rel = 0;
  size_t first_bad = x.size();
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) && std::isnan(y[i])) continue;
    const double err = x[i] == y[i] ? 0.0  // also equal infinities
                       : std::isnan(x[i]) || std::isnan(y[i]) ? INFINITY
                                                              : std::abs(x[i] - y[i]);
    max_abs = std::max(max_abs, err);
    if (y[i] != 0) max_rel = std::max(max_rel, err / std::abs(y[i]));
    if (!(err <= atol + rtol * std::abs(y[i])) && first_bad == x.size()) first_bad = i;
  }
  if (first_bad != x.size()) {
    std::printf("FAIL %-58s max abs %.3g rel %.3g; first at %zu: %.17g vs %.17g\n", what.c_str(),
                max_abs, max_rel, first_bad, x[first_bad], y[first_bad]);
    ++failures;
  } else {
    std::printf("ok   %-58s max abs %.3g rel %.3g (%zu)\n", what.c_str(), max_abs, max_rel,
                x.size());
  }
}

// Exact comparison (integer results, copies, bit-identical sums).
inline void same(const Tensor& got, const Tensor& want, const std::string& what) {
  cmp(got, want, 0, 0, what);
}

// fn() must throw ember::Error whose message contains `needle`.
template <typename Fn>
void expect_error(Fn&& fn, const std::string& needle, const std::string& what) {
  ++cases;
  try {
    fn();
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    if (msg.find(needle) != std::string::npos) {
      std::printf("ok   %-58s throws \"%.70s\"\n", what.c_str(), msg.c_str());
      return;
    }
    std::printf("FAIL %-58s wrong message: %s\n", what.c_str(), msg.c_str());
    ++failures;
    return;
  }
  std::printf("FAIL %-58s did not throw\n", what.c_str());
  ++failures;
}

inline void section(const char* name) { std::printf("-- %s\n", name); }

}  // namespace emu_check

void check_pointwise();  // elementwise, reduce, activation, loss
void check_norm();
void check_index();
void check_pool_optim_random();
void check_conv();
void check_edges();  // empty tensors and variants, all families
