// GPU GEMM benchmark (kernels/linalg.h gemm, cuBLAS behind it) on the matrix products of
// EfficientNetB2 at 64x64: every distinct 1x1 convolution (expand, project, SE reduce/expand,
// head) as a GEMM with M = N*H*W rows, K output and C input channels, and the 1408 -> 1000
// classifier, at batch 64 and 256, in the three layouts training runs:
//   fwd   y[M,K]  = x[M,C] . w[K,C]^T   (NT)
//   dgrad dx[M,C] = dy[M,K] . w[K,C]    (NN)
//   wgrad dw[K,C] = dy[M,K]^T . x[M,C]  (TN, the long M-sum)
// The timed variant is exact fp32 (allow_tf32 off); the named reference, timed in the same loop,
// is the same GEMM with TF32 allowed, and the counter "fp32/tf32" (time ratio) answers "how
// much does exactness cost". Counters: TFLOP/s (2*M*K*C per call), GB/s (compulsory traffic:
// both operands read once, the output written once), ref_* for TF32, "layers" (how many layers
// of the network share the shape).
// Before timing, the fp32 and TF32 results are checked against kernels::cpu::gemm on the same
// inputs at the full size (the CPU handles these sizes in well under a second each).
// Run: ./build/bench/bench_gemm_cuda --benchmark_counters_tabular=true
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "bench/cuda_bench.h"
#include "kernels/backend_settings.h"
#include "kernels/linalg.h"
#include "models/efficientnet_config.h"

namespace {

using namespace ember;
using bench::Timing;

enum class Layout { Fwd, Dgrad, Wgrad };
const char* layout_name(Layout l) {
  return l == Layout::Fwd ? "fwd" : l == Layout::Dgrad ? "dgrad" : "wgrad";
}

// One matrix product of the network: y[M, K] = x[M, C] . w[K, C]^T in the forward direction.
struct GemmShape {
  std::string name;  // the first layer with this shape
  int64_t M, K, C;
  int layers;
};

struct GemmCall {
  int64_t m, n, k;  // the product's own sizes: out [m, n], inner dimension k
  bool trans_a, trans_b;
  Shape a_shape, b_shape;
};

GemmCall gemm_call(const GemmShape& s, Layout l) {
  switch (l) {
    case Layout::Fwd: return {s.M, s.K, s.C, false, true, {s.M, s.C}, {s.K, s.C}};
    case Layout::Dgrad: return {s.M, s.C, s.K, false, false, {s.M, s.K}, {s.K, s.C}};
    case Layout::Wgrad: return {s.K, s.C, s.M, true, false, {s.M, s.K}, {s.M, s.C}};
  }
  return {};
}

std::vector<GemmShape> network_gemms(int64_t N) {
  std::vector<GemmShape> shapes;
  std::map<std::tuple<int64_t, int64_t, int64_t>, size_t> seen;
  auto add = [&](const std::string& name, int64_t M, int64_t K, int64_t C) {
    const auto key = std::make_tuple(M, K, C);
    if (auto it = seen.find(key); it != seen.end()) {
      ++shapes[it->second].layers;
      return;
    }
    seen.emplace(key, shapes.size());
    shapes.push_back({name, M, K, C, 1});
  };
  const models::EfficientNetConfig config = models::efficientnet_b2_config();
  for (const models::EfficientNetConv& c : models::efficientnet_convs(config, N, 64, 64))
    if (c.R == 1 && c.S == 1 && c.groups == 1 && c.stride == 1)
      add(c.name, c.N * c.H * c.W, c.K, c.C);
  add("classifier", N, 1000, config.head_filters);
  return shapes;
}

void bench_gemm(benchmark::State& state, const std::string& key, GemmShape s, Layout layout) {
  if (!bench::require_gpu(state)) return;
  kernels::BackendSettingsGuard restore;
  const GemmCall g = gemm_call(s, layout);
  const Tensor a = bench::gpu_uniform(g.a_shape, 1), b = bench::gpu_uniform(g.b_shape, 2);
  const Tensor out = bench::gpu_empty({g.m, g.n});
  auto run = [&](bool tf32) {
    kernels::set_allow_tf32(tf32);
    kernels::gemm(out, a, b, g.trans_a, g.trans_b, 1, g.m, g.n, g.k);
  };
  const bool ok = bench::validate_once(state, key, [&] {
    const Tensor ca = bench::to_cpu(a), cb = bench::to_cpu(b);
    const Tensor want = bench::cpu_empty({g.m, g.n});
    kernels::cpu::gemm(want, ca, cb, g.trans_a, g.trans_b, 1, g.m, g.n, g.k);
    // Exact fp32: both sides round each partial sum to float in different orders; over inner
    // dimensions up to 262144 (wgrad) that stays well under 1e-4 of the largest output.
    run(false);
    std::string err = bench::compare(out, want, 1e-4, "fp32");
    // TF32 rounds the inputs to 10-bit mantissas (relative 2^-11 each): about 1e-3 of the
    // largest output; 5e-3 still catches any indexing mistake, which misses by O(1).
    run(true);
    return bench::join_errors({err, bench::compare(out, want, 5e-3, "tf32")});
  });
  if (!ok) return;
  Timing t;
  if (!bench::timed_loop(state, [&] { run(false); }, [&] { run(true); }, &t)) return;
  const double flops = 2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) *
                       static_cast<double>(g.k);
  bench::report(state, t, bench::nbytes(a) + bench::nbytes(b) + bench::nbytes(out), flops);
  bench::report_time_ratio(state, t, "fp32/tf32");
  state.counters["layers"] = s.layers;
}

}  // namespace

int main(int argc, char** argv) {
  for (const int64_t N : {64, 256})
    for (const GemmShape& s : network_gemms(N))
      for (const Layout l : {Layout::Fwd, Layout::Dgrad, Layout::Wgrad}) {
        const std::string key = std::string("gemm/") + layout_name(l) + "/" + s.name + "/batch" +
                                std::to_string(N) + "/M" + std::to_string(s.M) + "_K" +
                                std::to_string(s.K) + "_C" + std::to_string(s.C);
        benchmark::RegisterBenchmark(key.c_str(), bench_gemm, key, s, l)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      }
  return bench::run_benchmarks(argc, argv);
}
