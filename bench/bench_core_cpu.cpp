// CPU benchmarks of the core ops against plain reference loops in the same process:
// elementwise add (ember::add vs a std::vector loop), broadcast add, sum reduction, and float32
// GEMM through ember::matmul (OpenBLAS) vs a naive triple loop. Each variant is checked against
// its reference before timing. Counters: GB/s for memory-bound ops, GFLOP/s for GEMM.
// Run: ./build/bench/bench_core_cpu --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "ops/ops.h"

namespace {

using namespace ember;

Tensor filled(const Shape& shape, uint64_t seed) {
  std::vector<float> v(numel_of(shape));
  uint32_t s = static_cast<uint32_t>(seed) * 2654435761u + 1;
  for (float& x : v) { s = s * 1664525u + 1013904223u; x = static_cast<float>(s >> 8) / 16777216.0f - 0.5f; }
  return from_vector(v, shape);
}

void require(bool ok, const char* what) {
  if (!ok) { std::fprintf(stderr, "validation failed: %s\n", what); std::abort(); }
}

void BM_add_ember(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = filled({n}, 1), b = filled({n}, 2);
  NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(add(a, b).raw_data());
  state.counters["GB/s"] = benchmark::Counter(3.0 * n * 4, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}

void BM_add_reference_loop(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto a = filled({n}, 1).to_vector<float>(), b = filled({n}, 2).to_vector<float>();
  std::vector<float> out(n);
  require(allclose(from_vector(a, {n}) + from_vector(b, {n}), [&] {
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
    return from_vector(out, {n});
  }()), "add");
  for (auto _ : state) {
    std::vector<float> o(n);  // allocate like the op does
    for (int64_t i = 0; i < n; ++i) o[i] = a[i] + b[i];
    benchmark::DoNotOptimize(o.data());
  }
  state.counters["GB/s"] = benchmark::Counter(3.0 * n * 4, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}

void BM_broadcast_bias_add_nhwc(benchmark::State& state) {
  Tensor x = filled({32, 32, 32, 96}, 3), bias = filled({96}, 4);
  NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(add(x, bias).raw_data());
  state.counters["GB/s"] = benchmark::Counter(2.0 * x.numel() * 4, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}

void BM_sum_over_nhw(benchmark::State& state) {
  Tensor x = filled({32, 32, 32, 96}, 5);
  NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(sum(x, {0, 1, 2}).raw_data());
  state.counters["GB/s"] = benchmark::Counter(1.0 * x.numel() * 4, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}

std::vector<float> naive_gemm(const std::vector<float>& a, const std::vector<float>& b, int64_t n) {
  std::vector<float> c(n * n, 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < n; ++k)
      for (int64_t j = 0; j < n; ++j) c[i * n + j] += a[i * n + k] * b[k * n + j];
  return c;
}

void BM_gemm_ember(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = filled({n, n}, 6), b = filled({n, n}, 7);
  NoGradGuard no_grad;
  require(allclose(matmul(a, b), from_vector(naive_gemm(a.to_vector<float>(), b.to_vector<float>(), n), {n, n}),
                   1e-4, 1e-4), "gemm");
  for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b).raw_data());
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

void BM_gemm_naive_reference(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto a = filled({n, n}, 6).to_vector<float>(), b = filled({n, n}, 7).to_vector<float>();
  for (auto _ : state) benchmark::DoNotOptimize(naive_gemm(a, b, n).data());
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

}  // namespace

BENCHMARK(BM_add_ember)->Arg(1 << 20)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_add_reference_loop)->Arg(1 << 20)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_broadcast_bias_add_nhwc)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_sum_over_nhw)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_gemm_ember)->Arg(256)->Arg(512)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_gemm_naive_reference)->Arg(256)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
