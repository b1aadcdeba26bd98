// GPU memory-bound kernel benchmark: elementwise (kernels/elementwise.h: add/mul contiguous and
// broadcast, relu/silu and their fused gradients), reductions (kernels/reduce.h: sum over N,H,W
// as for a bias or batch-norm gradient, over H,W as for squeeze-and-excite's pooling, and the
// full sum) and softmax over the last axis (kernels/activation.h), float32.
// Shapes: two EfficientNetB2 activations at 64x64, [256, 32, 32, 96] (block2a's expanded map at
// batch 256, 96 MiB) and [64, 8, 8, 288] (block3b's at batch 64, 4.5 MiB, under L2 size but
// flushed before every run); softmax on [256, 1000] and [4096, 1000] (classifier rows) and
// [64, 32768] (long rows).
// The named reference is a device-to-device cudaMemcpyAsync moving the same compulsory traffic
// (inputs read once, output written once; a broadcast operand counts its own size), timed in
// the same loop: "vs_memcpy" = achieved bandwidth / memcpy bandwidth, and GB/s the achieved one.
// Before timing, each result is checked against kernels::cpu on the same inputs, every element.
// Run: ./build/bench/bench_pointwise_cuda --benchmark_counters_tabular=true
#include <functional>
#include <string>
#include <vector>

#include "bench/cuda_bench.h"
#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

namespace {

using namespace ember;
using bench::Timing;
using kernels::BinaryOp;
using kernels::UnaryOp;

// One benchmark: inputs by shape, the output shape, and the same call on either device.
struct Case {
  std::string name;
  std::vector<Shape> inputs;
  Shape output;
  // f(out, inputs) on GPU tensors, cpu_f on their host copies.
  std::function<void(const Tensor&, const std::vector<Tensor>&)> gpu, cpu;
  // Scaled by the largest reference value (see bench::compare): exact ops (add, mul, relu and
  // its gradient) should agree bit for bit, 1e-6 is a margin that still catches any wrong
  // element; silu and softmax use exp, whose float implementations differ by a few ulp, and
  // sums accumulate in double on both sides (kernels/reduce.h) but in different orders: 1e-5.
  double tol;
};

std::string shape_name(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += 'x';
    out += std::to_string(s[i]);
  }
  return out;
}

Case binary_case(const std::string& op_name, BinaryOp op, const Shape& a, const Shape& b,
                 const Shape& out, double tol) {
  auto f = [op](const Tensor& o, const std::vector<Tensor>& in) {
    kernels::binary(op, o, in[0], in[1], 0);
  };
  auto cf = [op](const Tensor& o, const std::vector<Tensor>& in) {
    kernels::cpu::binary(op, o, in[0], in[1], 0);
  };
  return {op_name + "/" + shape_name(a) + (a == b ? "" : "_by_" + shape_name(b)), {a, b}, out,
          f, cf, tol};
}

Case unary_case(const std::string& op_name, UnaryOp op, const Shape& x, double tol) {
  auto f = [op](const Tensor& o, const std::vector<Tensor>& in) {
    kernels::unary(op, o, in[0], 0, 0);
  };
  auto cf = [op](const Tensor& o, const std::vector<Tensor>& in) {
    kernels::cpu::unary(op, o, in[0], 0, 0);
  };
  return {op_name + "/" + shape_name(x), {x}, x, f, cf, tol};
}

Case sum_case(const std::string& op_name, const Shape& x, const Shape& out) {
  auto f = [](const Tensor& o, const std::vector<Tensor>& in) { kernels::sum(o, in[0]); };
  auto cf = [](const Tensor& o, const std::vector<Tensor>& in) { kernels::cpu::sum(o, in[0]); };
  return {op_name + "/" + shape_name(x) + "_to_" + shape_name(out), {x}, out, f, cf, 1e-5};
}

Case softmax_case(const Shape& x) {
  const int64_t axis = static_cast<int64_t>(x.size()) - 1;
  auto f = [axis](const Tensor& o, const std::vector<Tensor>& in) {
    kernels::softmax(o, in[0], axis);
  };
  auto cf = [axis](const Tensor& o, const std::vector<Tensor>& in) {
    kernels::cpu::softmax(o, in[0], axis);
  };
  return {"softmax/" + shape_name(x), {x}, x, f, cf, 1e-5};
}

std::vector<Case> cases() {
  std::vector<Case> all;
  const std::vector<Shape> activations = {{256, 32, 32, 96}, {64, 8, 8, 288}};
  for (const Shape& s : activations) {
    const int64_t N = s[0], C = s[3];
    all.push_back(binary_case("add", BinaryOp::Add, s, s, s, 1e-6));
    all.push_back(binary_case("mul", BinaryOp::Mul, s, s, s, 1e-6));
    // Squeeze-and-excite's rescale: one gate per (image, channel).
    all.push_back(binary_case("mul_bcast_se", BinaryOp::Mul, s, {N, 1, 1, C}, s, 1e-6));
    // A per-channel bias.
    all.push_back(binary_case("add_bcast_bias", BinaryOp::Add, s, {C}, s, 1e-6));
    all.push_back(unary_case("relu", UnaryOp::Relu, s, 1e-6));
    all.push_back(unary_case("silu", UnaryOp::Silu, s, 1e-5));
    all.push_back(binary_case("relu_grad", BinaryOp::ReluGrad, s, s, s, 1e-6));
    all.push_back(binary_case("silu_grad", BinaryOp::SiluGrad, s, s, s, 1e-5));
    all.push_back(sum_case("sum_nhw", s, {1, 1, 1, C}));
    all.push_back(sum_case("sum_hw", s, {N, 1, 1, C}));
    all.push_back(sum_case("sum_all", s, {1, 1, 1, 1}));
  }
  for (const Shape& s : std::vector<Shape>{{256, 1000}, {4096, 1000}, {64, 32768}})
    all.push_back(softmax_case(s));
  return all;
}

void bench_case(benchmark::State& state, const std::string& key, const Case& c) {
  if (!bench::require_gpu(state)) return;
  std::vector<Tensor> inputs;
  Tensor out;
  std::function<void()> reference;
  double bytes = 0;
  if (!bench::setup(state, [&] {
        for (size_t i = 0; i < c.inputs.size(); ++i) {
          inputs.push_back(bench::gpu_uniform(c.inputs[i], 1 + i));
          bytes += bench::nbytes(inputs.back());
        }
        out = bench::gpu_empty(c.output);
        bytes += bench::nbytes(out);
        reference = bench::memcpy_reference(bytes);
      }))
    return;
  auto run = [&] { c.gpu(out, inputs); };

  const bool ok = bench::validate_once(state, key, [&] {
    std::vector<Tensor> host;
    for (const Tensor& t : inputs) host.push_back(bench::to_cpu(t));
    const Tensor want = bench::cpu_empty(c.output);
    c.cpu(want, host);
    run();
    return bench::compare(out, want, c.tol, c.name);
  });
  if (!ok) return;

  Timing t;
  if (!bench::timed_loop(state, run, reference, &t)) return;
  bench::report(state, t, bytes, 0);
  bench::report_memcpy_fraction(state, t);
}

}  // namespace

int main(int argc, char** argv) {
  for (const Case& c : cases()) {
    const std::string key = "pointwise/" + c.name;
    benchmark::RegisterBenchmark(key.c_str(), bench_case, key, c)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
  return bench::run_benchmarks(argc, argv);
}
