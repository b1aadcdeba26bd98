// GPU benchmark of the depthwise convolution's numbered kernel variants
// (kernels/cuda/dev/depthwise_conv_variants.cu: 1 scalar, 2 16-byte vectors = production,
// 3 vectors plus a 4-pixel tile per thread) on every distinct depthwise layer of EfficientNetB2
// at 64x64, batch 64, float32, NHWC, each timed in the same loop as cuDNN's depthwise (the named
// reference: kernels::conv2d_* with DepthwiseImpl::Cudnn). The weight gradient is one kernel
// pair for every variant so far, timed once ("wgrad/all").
// Counters: GB/s (compulsory traffic: the two inputs read once, the output written once, as in
// bench_conv_cuda), ref_GB/s for cuDNN, "variant/cudnn" the time ratio (< 1: the variant is
// faster), TFLOP/s, "layers" (how many layers of the network share the shape).
// Before timing, each variant and cuDNN are checked against kernels::cpu::conv2d_* on the same
// inputs (the emulator checks the variants in depth: tools/emulate_cuda, family
// depthwise_variants). Without a GPU every benchmark is skipped with "no CUDA device visible".
// Run: ./build/bench/bench_depthwise_variants_cuda --benchmark_counters_tabular=true
//      (--benchmark_filter=fwd/ for one direction, /v3/ for one variant)
#include <string>
#include <tuple>
#include <vector>

#include "bench/cuda_bench.h"
#include "bench/efficientnet_geometry.h"
#include "kernels/backend_settings.h"
#include "kernels/conv.h"
#include "kernels/cuda/dev/depthwise_conv_variants.h"
#include "models/efficientnet_config.h"

namespace {

using namespace ember;
using bench::Timing;
using models::EfficientNetConv;
namespace dev = kernels::cuda::dev;

enum class Direction { Forward, Dgrad, Wgrad };
const char* direction_name(Direction d) {
  return d == Direction::Forward ? "fwd" : d == Direction::Dgrad ? "dgrad" : "wgrad";
}

struct DwLayer {
  EfficientNetConv conv;  // the first layer with this geometry
  int layers = 1;
};

std::vector<DwLayer> depthwise_layers(int64_t N) {
  std::vector<DwLayer> out;
  std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>> keys;
  for (const EfficientNetConv& c :
       models::efficientnet_convs(models::efficientnet_b2_config(), N, 64, 64)) {
    if (!c.depthwise()) continue;
    const auto key = std::make_tuple(c.H, c.C, c.R, c.stride);  // square maps and filters
    size_t i = 0;
    while (i < keys.size() && keys[i] != key) ++i;
    if (i < keys.size()) {
      ++out[i].layers;
      continue;
    }
    keys.push_back(key);
    out.push_back({c, 1});
  }
  return out;
}

// variant 0 stands for "every variant" (the shared weight gradient).
void bench_variant(benchmark::State& state, const std::string& key, DwLayer layer, Direction dir,
                   int variant) {
  if (!bench::require_gpu(state)) return;
  kernels::BackendSettingsGuard restore;
  const EfficientNetConv& c = layer.conv;
  const kernels::Conv2dGeometry geo = bench::conv_geometry(c);
  const Tensor x = bench::gpu_uniform(c.input_shape(), 1);
  const Tensor w = bench::gpu_uniform(c.weight_shape(), 2);
  const Tensor dy = bench::gpu_uniform(c.output_shape(), 4);
  Tensor out;
  switch (dir) {
    case Direction::Forward: out = bench::gpu_empty(c.output_shape()); break;
    case Direction::Dgrad: out = bench::gpu_empty(c.input_shape()); break;
    case Direction::Wgrad: out = bench::gpu_empty(c.weight_shape()); break;
  }
  const int v = variant == 0 ? dev::kDepthwiseProductionVariant : variant;
  auto run_variant = [&] {
    switch (dir) {
      case Direction::Forward: dev::depthwise_forward_variant(v, out, x, w, Tensor(), geo); break;
      case Direction::Dgrad: dev::depthwise_input_grad_variant(v, out, dy, w, geo); break;
      case Direction::Wgrad: dev::depthwise_weight_grad_variant(v, out, x, dy, geo); break;
    }
  };
  auto run_cudnn = [&] {
    kernels::set_depthwise_impl(kernels::DepthwiseImpl::Cudnn);
    switch (dir) {
      case Direction::Forward: kernels::conv2d_forward(out, x, w, Tensor(), geo); break;
      case Direction::Dgrad: kernels::conv2d_input_grad(out, dy, w, geo); break;
      case Direction::Wgrad: kernels::conv2d_weight_grad(out, x, dy, geo); break;
    }
  };
  const bool ok = bench::validate_once(state, key, [&] {
    const Tensor cx = bench::to_cpu(x), cw = bench::to_cpu(w), cdy = bench::to_cpu(dy);
    const Tensor want = bench::cpu_empty(out.shape());
    switch (dir) {
      case Direction::Forward: kernels::cpu::conv2d_forward(want, cx, cw, Tensor(), geo); break;
      case Direction::Dgrad: kernels::cpu::conv2d_input_grad(want, cdy, cw, geo); break;
      case Direction::Wgrad: kernels::cpu::conv2d_weight_grad(want, cx, cdy, geo); break;
    }
    // As bench_conv_cuda: exact fp32, different summation orders; 5e-3 when TF32 is allowed
    // (cuDNN may then use it).
    const double tol = kernels::backend_settings().allow_tf32 ? 5e-3 : 1e-4;
    run_variant();
    std::string err = bench::compare(out, want, tol, "variant " + std::to_string(v));
    run_cudnn();
    return bench::join_errors({err, bench::compare(out, want, tol, "cudnn depthwise")});
  });
  if (!ok) return;
  Timing t;
  if (!bench::timed_loop(state, run_variant, run_cudnn, &t)) return;
  double bytes = bench::nbytes(out);
  switch (dir) {
    case Direction::Forward: bytes += bench::nbytes(x) + bench::nbytes(w); break;
    case Direction::Dgrad: bytes += bench::nbytes(dy) + bench::nbytes(w); break;
    case Direction::Wgrad: bytes += bench::nbytes(x) + bench::nbytes(dy); break;
  }
  bench::report(state, t, bytes, c.flops());
  bench::report_time_ratio(state, t, "variant/cudnn");
  state.counters["layers"] = layer.layers;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t N = 64;
  for (const DwLayer& l : depthwise_layers(N)) {
    const std::string shape = std::to_string(l.conv.H) + "x" + std::to_string(l.conv.W) + "x" +
                              std::to_string(l.conv.C) + "_" + std::to_string(l.conv.R) + "x" +
                              std::to_string(l.conv.S) + "_s" + std::to_string(l.conv.stride);
    for (const Direction d : {Direction::Forward, Direction::Dgrad, Direction::Wgrad}) {
      const int first = d == Direction::Wgrad ? 0 : 1;
      const int last = d == Direction::Wgrad ? 0 : dev::kDepthwiseVariants;
      for (int v = first; v <= last; ++v) {
        std::string key = "dwconv/";
        key += direction_name(d);
        key += v == 0 ? std::string("/all/") : "/v" + std::to_string(v) + "/";
        key += l.conv.name + "/batch" + std::to_string(N) + "/" + shape;
        benchmark::RegisterBenchmark(key.c_str(), bench_variant, key, l, d, v)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
  return ember::bench::run_benchmarks(argc, argv);
}
