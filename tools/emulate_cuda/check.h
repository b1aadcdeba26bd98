// Helpers of the emulated-CUDA checks (tools/emulate_cuda/check_*.cpp): random inputs, and a
// comparison that prints the maximum error of every case and counts failures.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "tensor/tensor.h"

// ember::cuda::check_device_errors(kernel = nullptr) (tensor/cuda/device_errors.h), defined in
// emulate_kernels.cpp: naming namespace ember::cuda here would make the checks' `cuda::`
// (ember::kernels::cuda under their using-directives) ambiguous.
void check_device_errors_after_sync();

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

// A contiguous view of t's values starting `shift` elements into its storage (shift 1: not
// 16-byte aligned, so the kernels' vector paths are refused).
inline Tensor shifted(const Tensor& t, int64_t shift) {
  if (shift == 0) return t;
  const int64_t n = t.numel();
  std::vector<double> v(n + shift, 0.0);
  const auto src = t.to_vector<double>();
  std::copy(src.begin(), src.end(), v.begin() + shift);
  return from_vector(v, {n + shift}, {.dtype = t.dtype()})
      .slice(0, shift, n + shift)
      .reshape(t.shape());
}

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

// The message ember::Error carries, or "" when fn does not throw.
inline std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// The row-major position of the first entry of `index` (int64) outside [0, bound), or -1.
inline int64_t first_bad_position(const Tensor& index, int64_t bound) {
  const auto v = index.contiguous().to_vector<int64_t>();
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] < 0 || v[i] >= bound) return static_cast<int64_t>(i);
  return -1;
}

// A deferred device error (tensor/cuda/device_errors.h): on_cpu throws; on_gpu (the same input)
// must not throw, and the host's check after its next synchronisation
// (ember::cuda::check_device_errors(), as tensor/cuda/cuda_runtime.cpp calls it) must throw the
// CPU's message. For the index ops the CPU names the indexed tensor after "for axis <a>", where
// the GPU names the entry: "(index entry <position> in row-major order)", position being the
// first bad entry's (computed here from the index, not taken from either side). The check must
// also clear the record: a second check throws nothing, and then good_gpu (a valid call) leaves
// no error behind. Nothing may be pending before on_gpu runs.
inline void expect_deferred(const std::function<void()>& on_cpu,
                            const std::function<void()>& on_gpu, int64_t position,
                            const std::function<void()>& good_gpu, const std::string& what) {
  ++cases;
  auto fail = [&](const std::string& why) {
    std::printf("FAIL %-58s %s\n", what.c_str(), why.c_str());
    ++failures;
  };
  auto check = [] { return message_of(check_device_errors_after_sync); };
  if (const std::string stale = check(); !stale.empty())
    return fail("an error was pending before the call: " + stale);
  const std::string cpu = message_of(on_cpu);
  if (cpu.empty()) return fail("the CPU does not throw");
  if (const std::string at_call = message_of(on_gpu); !at_call.empty())
    return fail("the GPU call throws instead of deferring: " + at_call);
  std::string want = cpu.substr(0, cpu.find(" (kernels/"));  // drop the check's file:line
  if (const size_t axis = cpu.find("for axis"); axis != std::string::npos)
    want = cpu.substr(0, cpu.find(" of ", axis)) + " (index entry " + std::to_string(position) +
           " in row-major order)";
  want += " [raised on the GPU by an earlier asynchronous kernel";
  const std::string got = check();
  if (got.rfind(want, 0) != 0)
    return fail("reported \"" + got + "\", want \"" + want + "...\"");
  if (const std::string again = check(); !again.empty())
    return fail("the record was not cleared: " + again);
  if (const std::string good = message_of(good_gpu); !good.empty())
    return fail("a good call after the report throws: " + good);
  if (const std::string after = check(); !after.empty())
    return fail("a good call after the report leaves an error: " + after);
  std::printf("ok   %-58s deferred: \"%.80s\"\n", what.c_str(), got.c_str());
}

inline void section(const char* name) { std::printf("-- %s\n", name); }

}  // namespace emu_check

void check_pointwise();  // elementwise, reduce, activation, loss
void check_norm();
void check_index();
void check_pool_optim_random();
void check_conv();
void check_edges();  // empty tensors and variants, all families
void check_copy();   // tensor/cuda/copy.cu: copies with dtype conversion, fills
void check_depthwise_variants();  // kernels/cuda/dev/depthwise_conv_variants.cu
void check_linalg();              // kernels/cuda/linalg.cpp on a CBLAS stand-in for cuBLAS
void check_squeeze_excite();      // kernels/cuda/squeeze_excite.cu
void check_preprocess();          // kernels/cuda/preprocess.cu
