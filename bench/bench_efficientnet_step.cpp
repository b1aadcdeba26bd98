// End-to-end benchmark of one EfficientNetB2 training step (models::efficientnet_b2, train mode,
// 64x64 inputs of uniform 0..255 values, random labels, cross_entropy, backward, optim::Adam):
// the figure compared with PyTorch's CPU step (bench/torch_efficientnet_step.py; both are
// run side by side by bench/run_efficientnet_step.sh).
//
// Cases (all wall-clock time, counter "img/s" = images per second, "dispatches" = kernel
// dispatches per step, counted on one untimed step: bench/dispatch_report.h):
//   cpu_step/32       the full step at batch 32 on the CPU;
//   cpu_forward/32    forward + loss only (graph recorded as in training, no backward);
//   cpu_fwd_bwd/32    forward + loss + backward, no optimiser step;
//   cuda_step/64, /256 the full step on the GPU, eager. Each iteration ends with
//                      cuda_synchronize(), so the time covers the queued kernels, not just their
//                      launches. Without the CUDA backend or a visible GPU they are skipped with a
//                      message.
//   cuda_step_graphed/64, /256  the same step replayed from a CUDA graph, as the trainer runs it
//                      by default (counter "graph_nodes": the kernels and copies in the graph).
// Two untimed steps run first (allocator caches, OpenBLAS buffers, first-touch page faults).
// A finite loss is checked once before timing; a NaN aborts the case.
// GPU math: TF32 by default, exact fp32 with --exact-fp32; the context line "math" says which.
// Run: ./build/bench/bench_efficientnet_step --benchmark_counters_tabular=true [--exact-fp32]
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/dispatch_report.h"
#include "bench/math_mode.h"
#include "models/efficientnet.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "tensor/device.h"
#include "tensor/memory.h"
#include "training/graphed_step.h"

namespace {

using namespace ember;

enum class Part { Forward, ForwardBackward, Step };

// Everything one training step needs, built once per case.
struct StepSetup {
  RandomGenerator gen{0};
  std::shared_ptr<models::EfficientNet> model;
  std::unique_ptr<optim::Adam> adam;
  Tensor images, labels;

  StepSetup(int64_t batch, Device device) {
    model = models::efficientnet_b2(gen, 10);
    model->train();
    if (device.is_cuda()) model->to(device);
    adam = std::make_unique<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = 1e-3});
    images = rand_uniform({batch, 64, 64, 3}, gen, {}, 0.0, 255.0).to(device);
    std::vector<int64_t> l(static_cast<size_t>(batch));
    for (int64_t i = 0; i < batch; ++i) l[static_cast<size_t>(i)] = (i * 7 + 3) % 10;
    labels = from_vector(l, {batch}, {.dtype = DType::Int64}).to(device);
  }

  // One forward (+ backward (+ Adam step)); returns the loss (not yet read on the host).
  Tensor run(Part part) { return run(part, images, labels); }
  Tensor run(Part part, const Tensor& x, const Tensor& y) {
    adam->zero_grad(/*set_to_none=*/true);  // as the trainer does
    Tensor loss = cross_entropy((*model)(x), y);
    if (part != Part::Forward) loss.backward();
    if (part == Part::Step) adam->step();
    return loss.detach();
  }
};

void sync(Device device) {
  if (device.is_cuda()) cuda_synchronize();
}

// graphed: the step as the trainer runs it on CUDA by default (--cuda-graphs on), through a
// GraphedStep (training/graphed_step.h), which runs 2 eager steps, captures the third and then
// replays, so a timed step is the batch's copy into the graph's input buffers and one launch.
void run_case(benchmark::State& state, Part part, Device device, bool graphed = false) {
  const int64_t batch = state.range(0);
  if (device.is_cuda() && !cuda_available()) {
    state.SkipWithError(built_with_cuda() ? "no CUDA device visible"
                                          : "built without the CUDA backend (-DEMBER_CUDA=ON)");
    for (auto _ : state) {}
    return;
  }
  StepSetup setup(batch, device);
  training::GraphedStep graphed_steps({.enabled = graphed, .device = device});
  const auto step = [&](Part p) {
    if (!graphed) return setup.run(p);
    return graphed_steps.run({setup.images, setup.labels}, [&](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{setup.run(p, in[0], in[1])};
    })[0];
  };
  // Warm-up (graphed: and the capture with its first replay), and a sanity check of the loss.
  for (int i = 0; i < (graphed ? 3 : 2); ++i) {
    const float loss = step(Part::Step).item<float>();
    if (!std::isfinite(loss)) {
      state.SkipWithError(("non-finite loss " + std::to_string(loss)).c_str());
      for (auto _ : state) {}
      return;
    }
  }
  const char* part_name = part == Part::Step ? "step" : part == Part::Forward ? "forward" : "fwd_bwd";
  bench::report_step_dispatches(state,
                                std::string(device.is_cuda() ? "cuda_" : "cpu_") + part_name +
                                    (graphed ? "_graphed/" : "/") + std::to_string(batch),
                                [&] { step(part); });
  if (graphed) state.counters["graph_nodes"] = static_cast<double>(graphed_steps.graph_nodes());
  sync(device);
  for (auto _ : state) {
    Tensor loss = step(part);
    sync(device);
    benchmark::DoNotOptimize(loss.raw_data());
  }
  state.counters["img/s"] = benchmark::Counter(static_cast<double>(batch),
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.counters["batch"] = static_cast<double>(batch);
}

void BM_cpu_step(benchmark::State& s) { run_case(s, Part::Step, Device::cpu()); }
void BM_cpu_forward(benchmark::State& s) { run_case(s, Part::Forward, Device::cpu()); }
void BM_cpu_fwd_bwd(benchmark::State& s) { run_case(s, Part::ForwardBackward, Device::cpu()); }
void BM_cuda_step(benchmark::State& s) { run_case(s, Part::Step, Device::cuda()); }
void BM_cuda_step_graphed(benchmark::State& s) { run_case(s, Part::Step, Device::cuda(), true); }

// Wall-clock time (the kernels are multi-threaded, so process CPU time would overstate it).
// MinTime 3 s: a CPU step takes about a second, so this averages a few steps.
BENCHMARK(BM_cpu_step)->Arg(32)->UseRealTime()->MinTime(3.0)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cpu_forward)->Arg(32)->UseRealTime()->MinTime(3.0)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cpu_fwd_bwd)->Arg(32)->UseRealTime()->MinTime(3.0)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cuda_step)->Arg(64)->Arg(256)->UseRealTime()->MinTime(2.0)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cuda_step_graphed)->Arg(64)->Arg(256)->UseRealTime()->MinTime(2.0)->Unit(benchmark::kMillisecond);

}  // namespace

// BENCHMARK_MAIN with the math mode first: TF32 on CUDA unless --exact-fp32 (bench/math_mode.h).
int main(int argc, char** argv) {
  ember::bench::use_math_mode(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
