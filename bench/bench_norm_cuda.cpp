// GPU normalisation benchmark (kernels/norm.h): batch norm training forward and the fused
// training backward on every distinct batch-normalised activation of EfficientNetB2 at 64x64
// (the outputs of the stem, expand, depthwise, project and head convolutions, seen as [M, C]
// with M = N*H*W), batch 64 and 256; layer norm forward/backward on [M, D] row sets of a few
// widths (8 or 32 MB each, D from 128 to 32768).
// Norms are memory-bound, so the named reference is a device-to-device memcpy moving the same
// compulsory traffic, timed in the same loop; "vs_memcpy" = achieved bandwidth / memcpy
// bandwidth. Compulsory traffic: forward reads x and writes y, backward reads dy and x and writes
// dx (the [C] / [M] statistics and parameters are counted too). GB/s counts that traffic, so a
// two-pass kernel that reads x twice shows up as a lower GB/s, which is the point.
// Before timing, every output (y, mean, var, invstd; dx, dweight, dbias) is checked against
// kernels::cpu on the same inputs at the full size; the backward's CPU reference is fed the GPU
// forward's mean and invstd so both sides differentiate the same point.
// Run: ./build/bench/bench_norm_cuda --benchmark_counters_tabular=true
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bench/cuda_bench.h"
#include "kernels/norm.h"
#include "models/efficientnet_config.h"

namespace {

using namespace ember;
using bench::Timing;

constexpr double kBatchNormEps = 1e-3;  // Keras BatchNormalization's default
constexpr double kLayerNormEps = 1e-5;  // PyTorch LayerNorm's default

struct NormShape {
  std::string name;  // the first layer with this shape
  int64_t M, C;      // rows, normalised channels (batch norm) or row width (layer norm)
  int layers;
};

std::vector<NormShape> batch_norm_shapes(int64_t N) {
  std::vector<NormShape> shapes;
  std::map<std::pair<int64_t, int64_t>, size_t> seen;
  for (const models::EfficientNetConv& c :
       models::efficientnet_convs(models::efficientnet_b2_config(), N, 64, 64)) {
    if (!c.has_batch_norm) continue;
    const int64_t M = c.N * c.P * c.Q;
    if (auto it = seen.find({M, c.K}); it != seen.end()) {
      ++shapes[it->second].layers;
      continue;
    }
    seen.emplace(std::make_pair(M, c.K), shapes.size());
    shapes.push_back({c.name + "_bn", M, c.K, 1});
  }
  return shapes;
}

std::vector<NormShape> layer_norm_shapes() {
  return {{"rows16384_d128", 16384, 128, 1},  {"rows4096_d512", 4096, 512, 1},
          {"rows1024_d2048", 1024, 2048, 1},  {"rows256_d8192", 256, 8192, 1},
          {"rows64_d32768", 64, 32768, 1},    {"rows65536_d128", 65536, 128, 1}};
}

// Every statistic and parameter is float32 like x (ops/norm.cpp allocates them so).
struct NormTensors {
  Tensor x, dy, weight, bias;
  Tensor y, mean, var, invstd;  // forward outputs (var: batch norm only)
  Tensor dx, dweight, dbias;    // backward outputs
};

NormTensors make_tensors(int64_t M, int64_t C, int64_t stats) {
  NormTensors t;
  // Shifted and scaled away from zero mean / unit variance so the normalisation does work.
  t.x = bench::gpu_uniform({M, C}, 1, DType::Float32, -1.0, 3.0);
  t.dy = bench::gpu_uniform({M, C}, 2);
  t.weight = bench::gpu_uniform({C}, 3, DType::Float32, 0.5, 1.5);
  t.bias = bench::gpu_uniform({C}, 4);
  t.y = bench::gpu_empty({M, C});
  t.mean = bench::gpu_empty({stats});
  t.var = bench::gpu_empty({stats});
  t.invstd = bench::gpu_empty({stats});
  t.dx = bench::gpu_empty({M, C});
  t.dweight = bench::gpu_empty({C});
  t.dbias = bench::gpu_empty({C});
  return t;
}

// Forward: y, mean, var, invstd to 1e-5 / 1e-4 of their largest value (both sides accumulate
// the statistics in double; y differs by float rounding of the affine map). Backward: the
// dweight/dbias sums over M and dx's correction terms accumulate in double too: 1e-4.
constexpr double kStatTol = 1e-5, kOutTol = 1e-4;

enum class Kind { BatchNormForward, BatchNormBackward, LayerNormForward, LayerNormBackward };

void bench_norm(benchmark::State& state, const std::string& key, NormShape s, Kind kind) {
  if (!bench::require_gpu(state)) return;
  const bool batch = kind == Kind::BatchNormForward || kind == Kind::BatchNormBackward;
  const bool forward = kind == Kind::BatchNormForward || kind == Kind::LayerNormForward;
  NormTensors t;
  std::function<void()> run_forward, run_backward;
  if (!bench::setup(state, [&] {
        t = make_tensors(s.M, s.C, batch ? s.C : s.M);
        if (batch) {
          run_forward = [&] {
            kernels::batch_norm_forward_training(t.y, t.mean, t.var, t.invstd, t.x, t.weight,
                                                 t.bias, kBatchNormEps);
          };
          run_backward = [&] {
            kernels::batch_norm_backward(t.dx, t.dweight, t.dbias, t.dy, t.x, t.weight, t.mean,
                                         t.invstd);
          };
        } else {
          run_forward = [&] {
            kernels::layer_norm_forward(t.y, t.mean, t.invstd, t.x, t.weight, t.bias,
                                        kLayerNormEps);
          };
          run_backward = [&] {
            kernels::layer_norm_backward(t.dx, t.dweight, t.dbias, t.dy, t.x, t.weight, t.mean,
                                         t.invstd);
          };
        }
        // The backward reads the forward's statistics: compute them once, untimed.
        if (!forward) run_forward();
      }))
    return;

  const bool ok = bench::validate_once(state, key, [&] {
    const Tensor x = bench::to_cpu(t.x), w = bench::to_cpu(t.weight), b = bench::to_cpu(t.bias);
    const Tensor y = bench::cpu_empty(t.y.shape()), mean = bench::cpu_empty(t.mean.shape()),
                 var = bench::cpu_empty(t.var.shape()),
                 invstd = bench::cpu_empty(t.invstd.shape());
    if (forward) {
      run_forward();
      if (batch) {
        kernels::cpu::batch_norm_forward_training(y, mean, var, invstd, x, w, b, kBatchNormEps);
      } else {
        kernels::cpu::layer_norm_forward(y, mean, invstd, x, w, b, kLayerNormEps);
      }
      std::vector<std::string> errors = {bench::compare(t.y, y, kOutTol, "y"),
                                         bench::compare(t.mean, mean, kStatTol, "mean"),
                                         bench::compare(t.invstd, invstd, kStatTol, "invstd")};
      if (batch) errors.push_back(bench::compare(t.var, var, kStatTol, "var"));
      return bench::join_errors(errors);
    }
    run_backward();
    const Tensor dy = bench::to_cpu(t.dy);
    const Tensor gmean = bench::to_cpu(t.mean), ginvstd = bench::to_cpu(t.invstd);
    const Tensor dx = bench::cpu_empty(t.dx.shape()), dw = bench::cpu_empty(t.dweight.shape()),
                 db = bench::cpu_empty(t.dbias.shape());
    if (batch) {
      kernels::cpu::batch_norm_backward(dx, dw, db, dy, x, w, gmean, ginvstd);
    } else {
      kernels::cpu::layer_norm_backward(dx, dw, db, dy, x, w, gmean, ginvstd);
    }
    return bench::join_errors({bench::compare(t.dx, dx, kOutTol, "dx"),
                               bench::compare(t.dweight, dw, kOutTol, "dweight"),
                               bench::compare(t.dbias, db, kOutTol, "dbias")});
  });
  if (!ok) return;

  // Compulsory traffic of the timed call.
  double bytes = bench::nbytes(t.weight) + bench::nbytes(t.mean) + bench::nbytes(t.invstd);
  if (forward) {
    bytes += bench::nbytes(t.x) + bench::nbytes(t.y) + bench::nbytes(t.bias) +
             (batch ? bench::nbytes(t.var) : 0.0);
  } else {
    bytes += bench::nbytes(t.dy) + bench::nbytes(t.x) + bench::nbytes(t.dx) +
             bench::nbytes(t.dweight) + bench::nbytes(t.dbias);
  }
  std::function<void()> reference;
  if (!bench::setup(state, [&] { reference = bench::memcpy_reference(bytes); })) return;
  Timing timing;
  if (!bench::timed_loop(state, forward ? run_forward : run_backward, reference, &timing)) return;
  bench::report(state, timing, bytes, 0);
  bench::report_memcpy_fraction(state, timing);
  state.counters["layers"] = s.layers;
}

std::string shape_name(const NormShape& s) {
  std::string name = "M";
  name += std::to_string(s.M);
  name += "_C";
  name += std::to_string(s.C);
  return name;
}

void add(const std::string& key, const NormShape& s, Kind kind) {
  benchmark::RegisterBenchmark(key.c_str(), bench_norm, key, s, kind)
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace

int main(int argc, char** argv) {
  for (const int64_t N : {64, 256})
    for (const NormShape& s : batch_norm_shapes(N)) {
      const std::string suffix = s.name + "/batch" + std::to_string(N) + "/" + shape_name(s);
      add("batch_norm/fwd_train/" + suffix, s, Kind::BatchNormForward);
      add("batch_norm/bwd/" + suffix, s, Kind::BatchNormBackward);
    }
  for (const NormShape& s : layer_norm_shapes()) {
    add("layer_norm/fwd/" + s.name, s, Kind::LayerNormForward);
    add("layer_norm/bwd/" + s.name, s, Kind::LayerNormBackward);
  }
  return bench::run_benchmarks(argc, argv);
}
