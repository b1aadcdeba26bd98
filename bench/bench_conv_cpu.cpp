// CPU convolution benchmark: conv2d forward, input grad (dgrad) and weight grad (wgrad) through
// the public ops (ops/conv.h, CPU kernels in kernels/cpu/conv.cpp) on EfficientNet-like NHWC
// layers at batch 8, float32. The rate counter GFLOP (printed GFLOP=x/s) counts
// 2 * N*P*Q*K*R*S*C/groups per direction. Timings are wall time (the GEMMs and loops are threaded).
// Before anything is timed, every strategy the kernels pick (im2col GEMM, pointwise GEMM,
// depthwise loops, grouped) is checked against a naive loop on a small case; a mismatch aborts.
// Build with -DEMBER_BUILD_BENCH=ON; run: ./build/bench/bench_conv_cpu [--benchmark_filter=...].
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "ops/ops.h"
#include "tests/conv_reference.h"

namespace {

using namespace ember;

struct Layer {
  const char* name;
  int64_t N, H, W, C, K, R, S, stride, groups;
  Conv2dParams params() const { return same_padding(H, W, R, S, stride, stride, groups); }
  Shape x_shape() const { return {N, H, W, C}; }
  Shape w_shape() const { return {K, R, S, C / groups}; }
};

Tensor random_tensor(const Shape& shape, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(numel_of(shape));
  for (float& x : v) x = dist(rng);
  return from_vector(v, shape);
}

// ---- validation against the definition ----

// y = conv2d(x, w), dx = conv2d_input_grad(g, w), dw = conv2d_weight_grad(x, g), all in double,
// one multiply-add per (n, p, q, k, r, s, c) inside the input.
struct Naive {
  std::vector<double> y, dx, dw;
};

Naive naive(const Layer& l, const std::vector<float>& x, const std::vector<float>& w,
            const std::vector<float>& g, int64_t P, int64_t Q) {
  Naive out{std::vector<double>(l.N * P * Q * l.K), std::vector<double>(x.size()),
            std::vector<double>(w.size())};
  testing::for_each_conv_tap(l.N, l.H, l.W, l.C, l.K, l.R, l.S, l.params(),
                             [&](int64_t xi, int64_t fi, int64_t yi) {
                               out.y[yi] += double(x[xi]) * w[fi];
                               out.dx[xi] += double(g[yi]) * w[fi];
                               out.dw[fi] += double(g[yi]) * x[xi];
                             });
  return out;
}

void expect_close(const Tensor& got, const std::vector<double>& want, const std::string& what) {
  const std::vector<double> v = got.to_vector<double>();
  double scale = 1;
  for (double x : want) scale = std::max(scale, std::abs(x));
  for (size_t i = 0; i < v.size(); ++i) {
    if (!(std::abs(v[i] - want[i]) <= 1e-4 * scale)) {
      std::fprintf(stderr, "bench_conv_cpu: %s disagrees with the naive reference at %zu: %g vs %g\n",
                   what.c_str(), i, v[i], want[i]);
      std::abort();
    }
  }
}

void validate() {
  NoGradGuard no_grad;
  const std::vector<Layer> small = {
      {"im2col 3x3", 2, 7, 6, 5, 4, 3, 3, 1, 1},
      {"im2col 3x3 stride 2", 2, 8, 7, 5, 4, 3, 3, 2, 1},
      {"grouped 3x3", 2, 6, 6, 4, 6, 3, 3, 1, 2},
      {"depthwise 3x3", 2, 7, 6, 6, 6, 3, 3, 1, 6},
      {"depthwise 5x5 stride 2", 2, 8, 8, 6, 6, 5, 5, 2, 6},
      {"pointwise", 2, 5, 4, 6, 3, 1, 1, 1, 1},
  };
  for (const Layer& l : small) {
    const Tensor x = random_tensor(l.x_shape(), 1), w = random_tensor(l.w_shape(), 2);
    const Tensor y = conv2d(x, w, Tensor(), l.params());
    const Tensor g = random_tensor(y.shape(), 3);
    const Naive ref = naive(l, x.to_vector<float>(), w.to_vector<float>(), g.to_vector<float>(),
                            y.size(1), y.size(2));
    expect_close(y, ref.y, std::string(l.name) + " forward");
    expect_close(conv2d_input_grad(g, w, l.x_shape(), l.params()), ref.dx,
                 std::string(l.name) + " dgrad");
    expect_close(conv2d_weight_grad(x, g, l.w_shape(), l.params()), ref.dw,
                 std::string(l.name) + " wgrad");
  }
}

// ---- timing ----

enum class Direction { Forward, Dgrad, Wgrad };

void bench_layer(benchmark::State& state, Layer l, Direction dir) {
  NoGradGuard no_grad;
  const Conv2dParams p = l.params();
  const Tensor x = random_tensor(l.x_shape(), 1), w = random_tensor(l.w_shape(), 2);
  const Tensor y = conv2d(x, w, Tensor(), p);
  const Tensor g = random_tensor(y.shape(), 3);
  for (auto _ : state) {
    Tensor out;
    switch (dir) {
      case Direction::Forward: out = conv2d(x, w, Tensor(), p); break;
      case Direction::Dgrad: out = conv2d_input_grad(g, w, l.x_shape(), p); break;
      case Direction::Wgrad: out = conv2d_weight_grad(x, g, l.w_shape(), p); break;
    }
    benchmark::DoNotOptimize(out.raw_data());
  }
  const double flops = 2.0 * static_cast<double>(y.numel()) * l.R * l.S * (l.C / l.groups);
  state.counters["GFLOP"] =
      benchmark::Counter(flops * static_cast<double>(state.iterations()) / 1e9,
                         benchmark::Counter::kIsRate);
}

}  // namespace

int main(int argc, char** argv) {
  validate();
  const std::vector<Layer> layers = {
      {"conv3x3_32x32_16to16", 8, 32, 32, 16, 16, 3, 3, 1, 1},
      {"depthwise3x3_32x32_c96", 8, 32, 32, 96, 96, 3, 3, 1, 96},
      {"depthwise3x3_s2_32x32_c96", 8, 32, 32, 96, 96, 3, 3, 2, 96},
      {"pointwise_32x32_96to24", 8, 32, 32, 96, 24, 1, 1, 1, 1},
  };
  const std::pair<Direction, const char*> dirs[] = {
      {Direction::Forward, "fwd"}, {Direction::Dgrad, "dgrad"}, {Direction::Wgrad, "wgrad"}};
  for (const Layer& l : layers)
    for (const auto& [dir, dir_name] : dirs)
      benchmark::RegisterBenchmark((std::string("conv2d_cpu/") + l.name + "/" + dir_name).c_str(),
                                   bench_layer, l, dir)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
