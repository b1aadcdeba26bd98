// GPU convolution benchmark (kernels/conv.h: conv2d_forward, conv2d_input_grad = dgrad,
// conv2d_weight_grad = wgrad) on every distinct convolution of EfficientNetB2 at 64x64
// (models/efficientnet_config.h: stem, expand, depthwise, SE reduce/expand, project, head),
// batch 64 and 256, float32, NHWC / KRSC.
//
// Depthwise shapes are timed twice in the same loop: the timed variant is ember's own depthwise
// kernel (DepthwiseImpl::Ember), the named reference cuDNN's (DepthwiseImpl::Cudnn); the counter
// "ember/cudnn" is the time ratio (< 1: ember is faster). Other shapes have no reference here;
// they run whatever the backend settings pick (EMBER_ALLOW_TF32, EMBER_CONV_AUTOTUNE,
// EMBER_DETERMINISTIC apply and are printed in the context header).
// Counters: TFLOP/s (2 * N*P*Q*K*R*S*C/groups per direction), GB/s (compulsory traffic: the two
// inputs read once, the output written once), ref_* for cuDNN's depthwise, "layers" (how many
// layers of the network share the shape).
// Before timing, each direction (and each depthwise implementation) is checked against
// kernels::cpu::conv2d_* on the same inputs at the full batch (the largest of these convolutions
// is about 1 GFLOP, a fraction of a second on the CPU).
// Run: ./build/bench/bench_conv_cuda --benchmark_counters_tabular=true
//      (--benchmark_filter=dwconv for the depthwise comparison only)
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "bench/cuda_bench.h"
#include "bench/efficientnet_geometry.h"
#include "kernels/backend_settings.h"
#include "kernels/conv.h"
#include "models/efficientnet_config.h"

namespace {

using namespace ember;
using bench::Timing;
using models::EfficientNetConv;

enum class Direction { Forward, Dgrad, Wgrad };
const char* direction_name(Direction d) {
  return d == Direction::Forward ? "fwd" : d == Direction::Dgrad ? "dgrad" : "wgrad";
}

struct ConvShape {
  EfficientNetConv conv;  // the first layer with this geometry
  int layers = 1;
};

std::vector<ConvShape> network_convs(int64_t N) {
  std::vector<ConvShape> shapes;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool>,
           size_t>
      seen;
  for (const EfficientNetConv& c :
       models::efficientnet_convs(models::efficientnet_b2_config(), N, 64, 64)) {
    // Square inputs and filters throughout the network: H and R stand for W and S.
    const auto key = std::make_tuple(c.H, c.C, c.K, c.R, c.stride, c.groups, c.W, c.has_bias);
    if (auto it = seen.find(key); it != seen.end()) {
      ++shapes[it->second].layers;
      continue;
    }
    seen.emplace(key, shapes.size());
    shapes.push_back({c, 1});
  }
  return shapes;
}

std::string geometry_name(const EfficientNetConv& c) {
  return std::to_string(c.H) + "x" + std::to_string(c.W) + "x" + std::to_string(c.C) + "_k" +
         std::to_string(c.K) + "_" + std::to_string(c.R) + "x" + std::to_string(c.S) + "_s" +
         std::to_string(c.stride) + "_g" + std::to_string(c.groups);
}

void bench_conv(benchmark::State& state, const std::string& key, ConvShape shape, Direction dir) {
  if (!bench::require_gpu(state)) return;
  kernels::BackendSettingsGuard restore;
  const EfficientNetConv& c = shape.conv;
  const kernels::Conv2dGeometry geo = bench::conv_geometry(c);
  const bool depthwise = c.depthwise();

  // Inputs of the direction and its output, on the GPU.
  const Tensor x = bench::gpu_uniform(c.input_shape(), 1);
  const Tensor w = bench::gpu_uniform(c.weight_shape(), 2);
  const Tensor bias = c.has_bias ? bench::gpu_uniform({c.K}, 3) : Tensor();
  const Tensor dy = bench::gpu_uniform(c.output_shape(), 4);
  Tensor out;
  switch (dir) {
    case Direction::Forward: out = bench::gpu_empty(c.output_shape()); break;
    case Direction::Dgrad: out = bench::gpu_empty(c.input_shape()); break;
    case Direction::Wgrad: out = bench::gpu_empty(c.weight_shape()); break;
  }
  auto run = [&](kernels::DepthwiseImpl impl) {
    kernels::set_depthwise_impl(impl);
    switch (dir) {
      case Direction::Forward: kernels::conv2d_forward(out, x, w, bias, geo); break;
      case Direction::Dgrad: kernels::conv2d_input_grad(out, dy, w, geo); break;
      case Direction::Wgrad: kernels::conv2d_weight_grad(out, x, dy, geo); break;
    }
  };

  const bool ok = bench::validate_once(state, key, [&] {
    const Tensor cx = bench::to_cpu(x), cw = bench::to_cpu(w), cdy = bench::to_cpu(dy);
    const Tensor cbias = bias.defined() ? bench::to_cpu(bias) : Tensor();
    const Tensor want = bench::cpu_empty(out.shape());
    switch (dir) {
      case Direction::Forward: kernels::cpu::conv2d_forward(want, cx, cw, cbias, geo); break;
      case Direction::Dgrad: kernels::cpu::conv2d_input_grad(want, cdy, cw, geo); break;
      case Direction::Wgrad: kernels::cpu::conv2d_weight_grad(want, cx, cdy, geo); break;
    }
    // Exact fp32: different summation orders over up to N*P*Q = 262144 terms (wgrad) stay well
    // under 1e-4 of the largest output. With TF32 allowed (EMBER_ALLOW_TF32=1) the inputs lose
    // 13 mantissa bits: about 1e-3 of the largest output, so 5e-3.
    const double tol = kernels::backend_settings().allow_tf32 ? 5e-3 : 1e-4;
    run(kernels::DepthwiseImpl::Ember);
    std::string err = bench::compare(out, want, tol, depthwise ? "ember depthwise" : "conv");
    if (depthwise) {
      run(kernels::DepthwiseImpl::Cudnn);
      err = bench::join_errors({err, bench::compare(out, want, tol, "cudnn depthwise")});
    }
    return err;
  });
  if (!ok) return;

  Timing t;
  const std::function<void()> reference =
      depthwise ? std::function<void()>([&] { run(kernels::DepthwiseImpl::Cudnn); }) : nullptr;
  if (!bench::timed_loop(state, [&] { run(kernels::DepthwiseImpl::Ember); }, reference, &t))
    return;
  double bytes = bench::nbytes(out);
  switch (dir) {
    case Direction::Forward:
      bytes += bench::nbytes(x) + bench::nbytes(w) + (bias.defined() ? bench::nbytes(bias) : 0);
      break;
    case Direction::Dgrad: bytes += bench::nbytes(dy) + bench::nbytes(w); break;
    case Direction::Wgrad: bytes += bench::nbytes(x) + bench::nbytes(dy); break;
  }
  bench::report(state, t, bytes, c.flops());
  if (depthwise) bench::report_time_ratio(state, t, "ember/cudnn");
  state.counters["layers"] = shape.layers;
}

}  // namespace

int main(int argc, char** argv) {
  for (const int64_t N : {64, 256})
    for (const ConvShape& s : network_convs(N))
      for (const Direction d : {Direction::Forward, Direction::Dgrad, Direction::Wgrad}) {
        const std::string key = std::string("conv/") + direction_name(d) + "/" + s.conv.name +
                                "/batch" + std::to_string(N) + "/" + geometry_name(s.conv);
        benchmark::RegisterBenchmark(key.c_str(), bench_conv, key, s, d)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      }
  return bench::run_benchmarks(argc, argv);
}
