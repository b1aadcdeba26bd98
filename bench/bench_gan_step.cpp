// End-to-end benchmark of the conditional GAN's two training steps (gan/networks.h, default
// GeneratorConfig / CriticConfig: 64x64x3 images, 10 classes), the figures compared with
// PyTorch's same steps (bench/torch_gan_step.py, which also checks that its models compute what
// these do: `--dump` below writes ember's side of that check).
//
// The steps, as gan/trainer.cpp runs them (WGAN-GP, Adam lr 1e-4, betas 0 / 0.9):
//   critic step     fake = G(z, y) under no-grad (generator in train mode: batch statistics);
//                   L_D = mean D(fake) - mean D(real) + 10 * GP (training::wgan_gp_critic_loss,
//                   alpha drawn per step), L_D.backward() (the penalty makes it a double
//                   backward through the critic), Adam on the critic;
//   generator step  the critic's weights frozen (requires_grad off, as the trainer does);
//                   L_G = -mean D(G(z, y)), backward through critic and generator, Adam on the
//                   generator.
// z ~ N(0, 1) is drawn every step; real images are fixed uniform [-1, 1) values; labels are
// (i * 7 + 3) % 10.
//
// Cases (wall-clock time, counter "img/s" = batch / step time, "dispatches" = kernel dispatches
// per step, counted on one untimed step: bench/dispatch_report.h):
//   cpu_critic_step/16, cpu_generator_step/16     on the CPU (also /64: the batch train_gan
//                                                 uses, whose 64x64 activations exceed
//                                                 glibc's 32 MiB mmap threshold);
//   cuda_critic_step/64, cuda_generator_step/64   on the GPU, each iteration ending with
//                                                 cuda_synchronize(); skipped with the reason
//                                                 without the CUDA backend or a visible GPU.
//   cuda_critic_step_graphed/64, cuda_generator_step_graphed/64
//                                                 the same steps replayed from CUDA graphs, as
//                                                 the trainer runs them by default (counter
//                                                 "graph_nodes": kernels and copies per graph).
// Two untimed steps first; a non-finite loss skips the case.
// GPU math: TF32 by default, exact fp32 with --exact-fp32; the context line "math" says which.
// Run: ./build/bench/bench_gan_step --benchmark_counters_tabular=true [--benchmark_filter=cpu_]
//      [--exact-fp32]
//
// Check mode (not a benchmark): bench_gan_step --dump FOLDER [--dtype float64|float32]
// [--batch N] [--seed S] builds the two networks (CPU), runs one critic step and then one
// generator step on a fixed batch with a given alpha, and writes to FOLDER:
//   generator.safetensors, critic.safetensors  the initial weights (module_state, ember names
//                                              and layouts: KRSC conv, [Cin, R, S, Cout]
//                                              transposed conv, NHWC activations);
//   batch.safetensors   z, z2 [N, latent], labels int64 [N], real [N, 64, 64, 3], alpha
//                       [N, 1, 1, 1];
//   ember.safetensors   critic.fake (G(z, y)), critic.loss / .penalty / .real_score /
//                       .fake_score, critic.grad.<param>, critic.after.<param> (after Adam);
//                       generator.fake (G(z2, y)), generator.loss, generator.grad.<param>,
//                       generator.after.<param>, generator.state.<buffer> (BN running
//                       statistics after both forwards).
// torch_gan_step.py --check FOLDER recomputes all of it with PyTorch and compares.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "bench/dispatch_report.h"
#include "bench/math_mode.h"
#include "gan/networks.h"
#include "nn/safetensors.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "tensor/device.h"
#include "tensor/error.h"
#include "tensor/memory.h"
#include "training/graphed_step.h"
#include "gan/losses.h"

namespace {

using namespace ember;

constexpr optim::AdamOptions kAdam{.lr = 1e-4, .beta1 = 0.0, .beta2 = 0.9};

Tensor class_labels(int64_t batch) {
  std::vector<int64_t> l(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) l[static_cast<size_t>(i)] = (i * 7 + 3) % 10;
  return from_vector(l, {batch}, {.dtype = DType::Int64});
}

// Both networks, their optimisers and one batch, on one device and dtype.
struct GanSetup {
  RandomGenerator gen;
  std::unique_ptr<models::ConditionalGenerator> g;
  std::unique_ptr<models::ProjectionCritic> d;
  std::unique_ptr<optim::Adam> g_opt, d_opt;
  Tensor real, labels;
  Device device;
  DType dtype;

  GanSetup(int64_t batch, Device device_, DType dtype_, uint64_t seed)
      : gen(seed), device(device_), dtype(dtype_) {
    g = std::make_unique<models::ConditionalGenerator>(models::GeneratorConfig{}, gen);
    d = std::make_unique<models::ProjectionCritic>(models::CriticConfig{}, gen);
    g->train();
    d->train();
    if (dtype != DType::Float32) {
      g->to(dtype);
      d->to(dtype);
    }
    if (device.is_cuda()) {
      g->to(device);
      d->to(device);
    }
    g_opt = std::make_unique<optim::Adam>(g->parameters(), kAdam);
    d_opt = std::make_unique<optim::Adam>(d->parameters(), kAdam);
    real = rand_uniform({batch, 64, 64, 3}, gen, {.dtype = dtype}, -1.0, 1.0).to(device);
    labels = class_labels(batch).to(device);
  }

  int64_t batch() const { return labels.size(0); }
  Tensor draw_z() {
    return rand_normal({batch(), g->config().latent_dim}, gen, {.dtype = dtype, .device = device});
  }

  // One critic step (alpha drawn from gen); returns the loss parts, not yet read on the host.
  training::CriticLossParts critic_step(const Tensor& z) {
    Tensor fake;
    {
      NoGradGuard no_grad;
      fake = (*g)(z, labels);
    }
    d_opt->zero_grad(/*set_to_none=*/true);  // as the trainer does
    training::CriticLossParts parts =
        training::wgan_gp_critic_loss(training::critic_fn(*d), real, fake, labels, gen);
    parts.loss.backward();
    d_opt->step();
    return parts;
  }

  // One generator step with the critic frozen; returns the loss.
  Tensor generator_step(const Tensor& z) {
    const std::vector<Tensor> d_params = d->parameters();
    for (Tensor p : d_params) p.set_requires_grad(false);
    g_opt->zero_grad(/*set_to_none=*/true);
    Tensor loss = training::wgan_generator_loss(training::critic_fn(*d), (*g)(z, labels), labels);
    loss.backward();
    for (Tensor p : d_params) p.set_requires_grad(true);
    g_opt->step();
    return loss;
  }
};

enum class Which { Critic, Generator };

void sync(Device device) {
  if (device.is_cuda()) cuda_synchronize();
}

void skip(benchmark::State& state, const std::string& why) {
  state.SkipWithError(why.c_str());
  for (auto _ : state) {}
}

// graphed: the step replayed from a CUDA graph as the trainer runs it by default
// (training/graphed_step.h: 2 eager steps, then the capture). The batch is fixed here, so a
// replay is one launch; the trainer adds one copy per input (images, labels).
void run_case(benchmark::State& state, Which which, Device device, bool graphed) {
  const int64_t batch = state.range(0);
  if (device.is_cuda() && !cuda_available()) {
    skip(state, built_with_cuda() ? "no CUDA device visible"
                                  : "built without the CUDA backend (-DEMBER_CUDA=ON)");
    return;
  }
  GanSetup setup(batch, device, DType::Float32, 0);
  auto eager_step = [&] {
    return which == Which::Critic ? setup.critic_step(setup.draw_z()).loss
                                  : setup.generator_step(setup.draw_z());
  };
  training::GraphedStep graphed_steps({.enabled = graphed, .device = device});
  auto step = [&] {
    if (!graphed) return eager_step();
    return graphed_steps.run({}, [&](const std::vector<Tensor>&) {
      return std::vector<Tensor>{eager_step().detach()};
    })[0];
  };
  // Warm-up (and, graphed, the capture), and a sanity check of the loss.
  for (int i = 0; i < (graphed ? 3 : 2); ++i) {
    const float loss = step().item<float>();
    if (!std::isfinite(loss)) return skip(state, "non-finite loss " + std::to_string(loss));
  }
  bench::report_step_dispatches(state,
                                std::string(device.is_cuda() ? "cuda_" : "cpu_") +
                                    (which == Which::Critic ? "critic_step" : "generator_step") +
                                    (graphed ? "_graphed/" : "/") + std::to_string(batch),
                                step);
  if (graphed) state.counters["graph_nodes"] = static_cast<double>(graphed_steps.graph_nodes());
  sync(device);
  for (auto _ : state) {
    Tensor loss = step();
    sync(device);
    benchmark::DoNotOptimize(loss.raw_data());
  }
  state.counters["img/s"] = benchmark::Counter(static_cast<double>(batch),
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.counters["batch"] = static_cast<double>(batch);
}

// Wall-clock time (the CPU kernels are multi-threaded, so process CPU time would overstate it).
void register_cases() {
  struct Case {
    const char* name;
    Which which;
    bool cuda;
    int64_t batch;
    bool graphed = false;
  };
  for (const Case& c : {Case{"cpu_critic_step", Which::Critic, false, 16},
                        Case{"cpu_generator_step", Which::Generator, false, 16},
                        Case{"cpu_critic_step", Which::Critic, false, 64},
                        Case{"cpu_generator_step", Which::Generator, false, 64},
                        Case{"cuda_critic_step", Which::Critic, true, 64},
                        Case{"cuda_generator_step", Which::Generator, true, 64},
                        Case{"cuda_critic_step_graphed", Which::Critic, true, 64, true},
                        Case{"cuda_generator_step_graphed", Which::Generator, true, 64, true}}) {
    const Which which = c.which;
    const Device device = c.cuda ? Device::cuda() : Device::cpu();
    const bool graphed = c.graphed;
    benchmark::RegisterBenchmark(c.name, [which, device, graphed](benchmark::State& s) {
      run_case(s, which, device, graphed);
    })
        ->Arg(c.batch)
        ->UseRealTime()
        ->MinTime(c.cuda ? 2.0 : 3.0)
        ->Unit(benchmark::kMillisecond);
  }
}

// ---------------------------------------------------------------------------------------------
// --dump: ember's half of torch_gan_step.py --check.

void add_all(nn::NamedTensors& out, const std::string& prefix, const nn::NamedTensors& tensors,
             bool grads) {
  for (const auto& [name, t] : tensors) {
    const Tensor& v = grads ? t.grad() : t;
    EMBER_CHECK(v.defined(), "bench_gan_step --dump: ", prefix, name, " has no value");
    out.emplace_back(prefix + name, v.detach().contiguous());
  }
}

int dump(const std::string& folder, DType dtype, int64_t batch, uint64_t seed) {
  std::filesystem::create_directories(folder);
  GanSetup s(batch, Device::cpu(), dtype, seed);
  nn::save_module(*s.g, folder + "/generator.safetensors");
  nn::save_module(*s.d, folder + "/critic.safetensors");
  const Tensor z = s.draw_z(), z2 = s.draw_z();
  const Tensor alpha = training::interpolation_weights(s.real, s.gen);
  nn::write_safetensors(folder + "/batch.safetensors", {{"z", z},
                                                        {"z2", z2},
                                                        {"labels", s.labels},
                                                        {"real", s.real},
                                                        {"alpha", alpha}});
  nn::NamedTensors out;
  Tensor fake;
  // The steps of GanSetup, spelled out here because the gradients are read before Adam's step.
  {
    NoGradGuard no_grad;
    fake = (*s.g)(z, s.labels);
  }
  s.d_opt->zero_grad();
  const training::CriticLossParts parts = training::wgan_gp_critic_loss(
      training::critic_fn(*s.d), s.real, fake, s.labels, alpha);
  parts.loss.backward();
  out.emplace_back("critic.fake", fake);
  out.emplace_back("critic.loss", parts.loss.detach());
  out.emplace_back("critic.penalty", parts.penalty.detach());
  out.emplace_back("critic.real_score", parts.real_score.detach());
  out.emplace_back("critic.fake_score", parts.fake_score.detach());
  add_all(out, "critic.grad.", s.d->named_parameters(), true);
  s.d_opt->step();
  add_all(out, "critic.after.", s.d->named_parameters(), false);

  const std::vector<Tensor> d_params = s.d->parameters();
  for (Tensor p : d_params) p.set_requires_grad(false);
  s.g_opt->zero_grad();
  const Tensor fake2 = (*s.g)(z2, s.labels);
  const Tensor g_loss = training::wgan_generator_loss(training::critic_fn(*s.d), fake2, s.labels);
  g_loss.backward();
  for (Tensor p : d_params) p.set_requires_grad(true);
  out.emplace_back("generator.fake", fake2.detach());
  out.emplace_back("generator.loss", g_loss.detach());
  add_all(out, "generator.grad.", s.g->named_parameters(), true);
  s.g_opt->step();
  add_all(out, "generator.after.", s.g->named_parameters(), false);
  add_all(out, "generator.state.", s.g->named_buffers(), false);
  nn::write_safetensors(folder + "/ember.safetensors", out,
                        {{"dtype", dtype == DType::Float64 ? "float64" : "float32"},
                         {"batch", std::to_string(batch)},
                         {"seed", std::to_string(seed)}});
  std::cout << "bench_gan_step --dump: wrote " << out.size() << " tensors (batch " << batch
            << ", " << (dtype == DType::Float64 ? "float64" : "float32") << ") to " << folder
            << "\n";
  return 0;
}

int dump_main(int argc, char** argv) {
  std::string folder, dtype_name = "float64";
  int64_t batch = 4;
  uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      EMBER_CHECK(i + 1 < argc, "bench_gan_step: ", a, " needs a value");
      return argv[++i];
    };
    if (a == "--dump") folder = value();
    else if (a == "--dtype") dtype_name = value();
    else if (a == "--batch") batch = std::stoll(value());
    else if (a == "--seed") seed = std::stoull(value());
    else EMBER_FAIL("bench_gan_step --dump: unknown argument '", a, "'");
  }
  EMBER_CHECK(dtype_name == "float64" || dtype_name == "float32",
              "bench_gan_step: --dtype must be float64 or float32, got '", dtype_name, "'");
  EMBER_CHECK(batch >= 2, "bench_gan_step: --batch must be >= 2 (batch statistics), got ", batch);
  return dump(folder, dtype_name == "float64" ? DType::Float64 : DType::Float32, batch, seed);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--dump") {
      try {
        return dump_main(argc, argv);
      } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
      }
    }
  }
  register_cases();
  bench::use_math_mode(argc, argv);  // TF32 on CUDA unless --exact-fp32 (bench/math_mode.h)
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
