// gpu_equivalence: does a GPU compute the same training steps as the CPU? Two whole steps, each
// run from the same weights on the same batch on both devices, then compared tensor by tensor:
//   1. EfficientNetB2 (10 classes, 64x64 inputs 0..255, train mode): forward, cross-entropy,
//      backward, Adam (lr 1e-3);
//   2. the conditional GAN's WGAN-GP critic step: the generator makes the fake batch (train
//      mode), then the projection critic's loss with its gradient penalty (a double backward),
//      backward, Adam (lr 1e-4, betas 0 and 0.9, as WGAN-GP).
//
//   ./build/apps/gpu_equivalence [--device cuda|cuda:N|cpu] [--batch 16] [--seed 0] [--json F]
//
// Exact fp32 on both sides (no TF32), so the devices differ only by summation order and by the
// convolution algorithms cuDNN picks. What is compared, and the tolerances (docs/gpu-check.md):
// - loss (and the penalty): relative difference <= 1e-4;
// - every gradient, every generated image, every batch-norm running statistic: the largest
//   absolute difference divided by the tensor's largest CPU magnitude (a "normalised error")
//   <= 1e-2 for B2 (23 blocks deep) and 5e-3 for the critic step;
// - every updated parameter, in units of the learning rate: Adam's first step moves each
//   weight by about lr * sign(gradient), so an element whose CPU gradient is above a noise floor
//   (1e-3 of its tensor's largest) must land within 1e-2 * lr; below the floor the sign of a
//   gradient is rounding noise and the element may move either way (counted, not failed).
// `--device cpu` compares the CPU with itself: every difference must be 0 (the check of this
// program; tests/apps run it). Exit status 0 when every comparison passes, 1 when one fails,
// 2 for bad flags or a missing GPU.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/efficientnet.h"
#include "gan/networks.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "tensor/atomic_file.h"
#include "tensor/memory.h"
#include "apps/flags/cli.h"
#include "gan/losses.h"

using namespace ember;

namespace {

const char* kUsage =
    "usage: gpu_equivalence [--device cuda|cuda:N|cpu] [--batch N] [--seed S] [--json FILE]";

struct Flags {
  Device device = Device::cuda(0);
  int64_t batch = 16;
  uint64_t seed = 0;
  std::string json;
};

Flags parse_flags(int argc, char** argv) {
  Flags flags;
  training::FlagReader r(argc, argv);
  while (r.next()) {
    if (r.is("--device")) flags.device = r.device_value();
    else if (r.is("--batch")) flags.batch = r.int_value(2, 4096);
    else if (r.is("--seed")) flags.seed = static_cast<uint64_t>(r.int_value(0));
    else if (r.is("--json")) flags.json = r.value();
    else r.unknown();
  }
  r.exit_if_help(kUsage);
  training::require_visible_device("--device", flags.device);
  return flags;
}

std::vector<double> host_values(const Tensor& t) {
  return t.to(Device::cpu()).contiguous().to_vector<double>();
}

// The worst of a family of tensors (gradients, parameters, ...) and whether it is within `tol`.
struct Worst {
  double tolerance = 0;
  double value = 0;  // the largest error seen
  std::string name;  // where
  int64_t tensors = 0;
  int64_t noise_elements = 0;    // parameters only: elements below the gradient noise floor
  int64_t noise_disagreeing = 0;  // ... of which moved differently by more than 1e-2 * lr
  void see(double error, const std::string& where) {
    ++tensors;
    if (std::isnan(error)) error = INFINITY;
    if (name.empty() || error > value) {
      value = error;
      name = where;
    }
  }
  bool ok() const { return tensors > 0 && value <= tolerance; }
  nlohmann::json json() const {
    nlohmann::json j = {{"worst", value}, {"worst_name", name}, {"tolerance", tolerance},
                        {"tensors", tensors}, {"passed", ok()}};
    if (noise_elements > 0 || noise_disagreeing > 0) {
      j["below_noise_floor_elements"] = noise_elements;
      j["below_noise_floor_moved_differently"] = noise_disagreeing;
    }
    return j;
  }
};

// max |got - want| / max |want| (0 when both are all zero; infinite for a NaN).
double normalised_error(const Tensor& got, const Tensor& want) {
  const std::vector<double> g = host_values(got), w = host_values(want);
  double diff = 0, scale = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    if (std::isnan(g[i]) != std::isnan(w[i])) return INFINITY;
    if (std::isnan(g[i])) continue;
    diff = std::max(diff, std::abs(g[i] - w[i]));
    scale = std::max(scale, std::abs(w[i]));
  }
  return diff == 0 ? 0 : (scale > 0 ? diff / scale : INFINITY);
}

double relative_difference(double got, double want) {
  if (std::isnan(got) || std::isnan(want)) return INFINITY;
  return got == want ? 0 : std::abs(got - want) / std::max(std::abs(want), 1e-30);
}

// Updated parameters after Adam's first step, in units of lr, on the elements whose CPU
// gradient is above the noise floor; the rest are counted in `worst`.
double update_error(const Tensor& got, const Tensor& want, const Tensor& cpu_grad, double lr,
                    Worst& worst) {
  const std::vector<double> g = host_values(got), w = host_values(want), grad = host_values(cpu_grad);
  double grad_scale = 0;
  for (double x : grad) grad_scale = std::max(grad_scale, std::abs(x));
  const double floor = 1e-3 * grad_scale;
  double error = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    const double moved = std::isnan(g[i]) || std::isnan(w[i]) ? INFINITY : std::abs(g[i] - w[i]) / lr;
    if (std::abs(grad[i]) > floor || std::isnan(moved) || std::isinf(moved)) {
      error = std::max(error, moved);
    } else {
      ++worst.noise_elements;
      if (moved > 1e-2) ++worst.noise_disagreeing;
    }
  }
  return error;
}

struct StepResult {
  double loss_cpu = 0, loss_device = 0;
  double seconds_cpu = 0, seconds_device = 0;
  Worst loss, gradients, parameters, buffers, outputs;
  StepResult() {
    loss.tolerance = 1e-4;
    parameters.tolerance = 1e-2;
  }
  nlohmann::json extra = nlohmann::json::object();
  bool ok() const {
    return loss.ok() && gradients.ok() && parameters.ok() && (buffers.tensors == 0 || buffers.ok()) &&
           (outputs.tensors == 0 || outputs.ok());
  }
  nlohmann::json json(const std::string& name, int64_t batch) const {
    nlohmann::json j = {{"name", name}, {"batch", batch}, {"loss_cpu", loss_cpu},
                        {"loss_device", loss_device}, {"loss", loss.json()},
                        {"gradients", gradients.json()}, {"parameters", parameters.json()},
                        {"seconds_cpu", seconds_cpu}, {"seconds_device", seconds_device},
                        {"passed", ok()}};
    if (buffers.tensors) j["buffers"] = buffers.json();
    if (outputs.tensors) j["outputs"] = outputs.json();
    for (const auto& [key, value] : extra.items()) j[key] = value;
    return j;
  }
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Compares two modules built alike: gradients, then (after the caller's optimiser step)
// parameters and buffers. Gradients are read before the step.
struct ModulePair {
  nn::Module& cpu;
  nn::Module& device;
};

void compare_gradients(const ModulePair& m, const std::string& prefix, StepResult& r,
                       std::vector<Tensor>& cpu_grads) {
  const auto cpu = m.cpu.named_parameters(), dev = m.device.named_parameters();
  EMBER_CHECK(cpu.size() == dev.size(), "gpu_equivalence: the two models differ in parameters");
  for (size_t i = 0; i < cpu.size(); ++i) {
    const Tensor& gc = cpu[i].second.grad();
    const Tensor& gd = dev[i].second.grad();
    cpu_grads.push_back(gc.defined() ? gc.clone() : Tensor());
    if (!gc.defined() && !gd.defined()) continue;
    r.gradients.see(gc.defined() && gd.defined() ? normalised_error(gd, gc) : INFINITY,
                    prefix + cpu[i].first);
  }
}

// The floating-point buffers (batch-norm running statistics; counters skipped).
void compare_buffers(const ModulePair& m, const std::string& prefix, StepResult& r) {
  const auto cpu_buffers = m.cpu.named_buffers(), dev_buffers = m.device.named_buffers();
  for (size_t i = 0; i < cpu_buffers.size(); ++i) {
    if (!is_floating(cpu_buffers[i].second.dtype())) continue;  // counters
    r.buffers.see(normalised_error(dev_buffers[i].second, cpu_buffers[i].second),
                  prefix + cpu_buffers[i].first);
  }
}

void compare_after_step(const ModulePair& m, const std::string& prefix, double lr,
                        const std::vector<Tensor>& cpu_grads, StepResult& r) {
  const auto cpu = m.cpu.named_parameters(), dev = m.device.named_parameters();
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (!cpu_grads[i].defined()) continue;
    r.parameters.see(update_error(dev[i].second, cpu[i].second, cpu_grads[i], lr, r.parameters),
                     prefix + cpu[i].first);
  }
  compare_buffers(m, prefix, r);
}

// n class labels (i * step + offset) % 10: every class, in an order that differs per step.
Tensor cycling_labels(int64_t n, int64_t step, int64_t offset) {
  std::vector<int64_t> l(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) l[static_cast<size_t>(i)] = (i * step + offset) % 10;
  return from_vector(l, {n}, {.dtype = DType::Int64});
}

StepResult efficientnet_step(const Flags& flags) {
  StepResult r;
  r.gradients.tolerance = r.buffers.tolerance = 1e-2;
  constexpr double kLr = 1e-3;
  RandomGenerator init_cpu(flags.seed), init_device(flags.seed);
  auto cpu_model = models::efficientnet_b2(init_cpu, 10);
  auto device_model = models::efficientnet_b2(init_device, 10);
  cpu_model->train();
  device_model->train();
  device_model->to(flags.device);
  RandomGenerator data(flags.seed + 1);
  const Tensor images = rand_uniform({flags.batch, 64, 64, 3}, data, {}, 0.0, 255.0);
  const Tensor labels = cycling_labels(flags.batch, 7, 3);

  optim::Adam cpu_adam(cpu_model->parameters(), {.lr = kLr});
  optim::Adam device_adam(device_model->parameters(), {.lr = kLr});
  // Forward, loss and backward; returns the loss and the seconds taken.
  auto forward_backward = [&](models::EfficientNet& model, optim::Adam& adam, Device device,
                              double& seconds) {
    adam.zero_grad();
    const auto start = std::chrono::steady_clock::now();
    Tensor loss = cross_entropy(model(images.to(device)), labels.to(device));
    loss.backward();
    const double value = loss.item<double>();
    seconds = seconds_since(start);
    return value;
  };
  r.loss_cpu = forward_backward(*cpu_model, cpu_adam, Device::cpu(), r.seconds_cpu);
  r.loss_device = forward_backward(*device_model, device_adam, flags.device, r.seconds_device);
  r.loss.see(relative_difference(r.loss_device, r.loss_cpu), "cross_entropy");
  const ModulePair pair{*cpu_model, *device_model};
  std::vector<Tensor> cpu_grads;
  compare_gradients(pair, "", r, cpu_grads);
  cpu_adam.step();
  device_adam.step();
  compare_after_step(pair, "", kLr, cpu_grads, r);
  return r;
}

// The critic step's inputs, drawn on the CPU and copied to each device.
struct CriticBatch {
  Tensor z, real, alpha, labels;
};

CriticBatch critic_batch(const Flags& flags) {
  const models::GeneratorConfig gconfig;
  RandomGenerator data(flags.seed + 2);
  const int64_t n = flags.batch;
  CriticBatch b;
  b.z = rand_normal({n, gconfig.latent_dim}, data);
  b.real = rand_uniform({n, 64, 64, 3}, data, {}, -1.0, 1.0);
  b.alpha = rand_uniform({n, 1, 1, 1}, data);
  b.labels = cycling_labels(n, 3, 1);
  return b;
}

// One device's generator and critic, built from the same seed, after the critic's loss and
// backward (Adam not yet stepped).
struct CriticSide {
  std::unique_ptr<models::ConditionalGenerator> generator;
  std::unique_ptr<models::ProjectionCritic> critic;
  std::unique_ptr<optim::Adam> adam;
  Tensor fake;
  double loss = 0, penalty = 0, seconds = 0;
};

CriticSide critic_side(const Flags& flags, const CriticBatch& b, Device device, double lr) {
  const models::GeneratorConfig gconfig;
  const models::CriticConfig cconfig;
  CriticSide s;
  RandomGenerator init(flags.seed);
  s.generator = std::make_unique<models::ConditionalGenerator>(gconfig, init);
  s.critic = std::make_unique<models::ProjectionCritic>(cconfig, init);
  s.generator->train();
  s.critic->train();
  s.generator->to(device);
  s.critic->to(device);
  s.adam = std::make_unique<optim::Adam>(
      s.critic->parameters(), optim::AdamOptions{.lr = lr, .beta1 = 0.0, .beta2 = 0.9});
  s.adam->zero_grad();
  const auto start = std::chrono::steady_clock::now();
  const Tensor y = b.labels.to(device);
  s.fake = (*s.generator)(b.z.to(device), y).detach();
  const training::CriticLossParts parts = training::wgan_gp_critic_loss(
      training::critic_fn(*s.critic), b.real.to(device), s.fake, y, b.alpha.to(device));
  parts.loss.backward();
  s.loss = parts.loss.item<double>();
  s.penalty = parts.penalty.item<double>();
  s.seconds = seconds_since(start);
  return s;
}

StepResult critic_step(const Flags& flags) {
  StepResult r;
  r.gradients.tolerance = r.outputs.tolerance = r.buffers.tolerance = 5e-3;
  constexpr double kLr = 1e-4;
  const CriticBatch batch = critic_batch(flags);
  CriticSide cpu = critic_side(flags, batch, Device::cpu(), kLr);
  CriticSide dev = critic_side(flags, batch, flags.device, kLr);
  r.loss_cpu = cpu.loss;
  r.loss_device = dev.loss;
  r.seconds_cpu = cpu.seconds;
  r.seconds_device = dev.seconds;
  r.loss.see(relative_difference(dev.loss, cpu.loss), "critic loss");
  r.loss.see(relative_difference(dev.penalty, cpu.penalty), "gradient penalty");
  r.extra["penalty_cpu"] = cpu.penalty;
  r.extra["penalty_device"] = dev.penalty;
  r.outputs.see(normalised_error(dev.fake, cpu.fake), "generated images");
  const ModulePair pair{*cpu.critic, *dev.critic};
  std::vector<Tensor> cpu_grads;
  compare_gradients(pair, "critic.", r, cpu_grads);
  cpu.adam->step();
  dev.adam->step();
  compare_after_step(pair, "critic.", kLr, cpu_grads, r);
  // The generator's batch-norm statistics moved in its forward pass.
  compare_buffers({*cpu.generator, *dev.generator}, "generator.", r);
  return r;
}

void print_step(const char* name, const StepResult& r) {
  std::printf("%s: loss cpu %.7g, device %.7g (relative difference %.2g); %s\n", name, r.loss_cpu,
              r.loss_device, r.loss.value, r.ok() ? "PASSED" : "FAILED");
  auto line = [](const char* what, const Worst& w) {
    if (w.tensors == 0) return;
    std::printf("  %-11s worst %.3g at %s (tolerance %.0e, %lld tensors)%s\n", what, w.value,
                w.name.c_str(), w.tolerance, static_cast<long long>(w.tensors),
                w.ok() ? "" : "  <-- over");
  };
  line("gradients", r.gradients);
  line("parameters", r.parameters);
  line("buffers", r.buffers);
  line("outputs", r.outputs);
  if (r.parameters.noise_elements)
    std::printf("  %lld parameter elements below the gradient noise floor, %lld moved differently\n",
                static_cast<long long>(r.parameters.noise_elements),
                static_cast<long long>(r.parameters.noise_disagreeing));
  std::printf("  step time cpu %.2f s, device %.2f s (first step: includes set-up)\n",
              r.seconds_cpu, r.seconds_device);
}

int run(const Flags& flags) {
  std::printf("gpu_equivalence: the CPU against %s, batch %lld, seed %llu\n",
              flags.device.str().c_str(), static_cast<long long>(flags.batch),
              static_cast<unsigned long long>(flags.seed));
  const StepResult b2 = efficientnet_step(flags);
  print_step("efficientnet_b2 step", b2);
  const StepResult critic = critic_step(flags);
  print_step("wgan_gp critic step", critic);
  const bool ok = b2.ok() && critic.ok();
  if (!flags.json.empty()) {
    const nlohmann::json j = {{"device", flags.device.str()},
                              {"batch", flags.batch},
                              {"seed", flags.seed},
                              {"steps", {b2.json("efficientnet_b2", flags.batch),
                                         critic.json("wgan_gp_critic", flags.batch)}},
                              {"passed", ok}};
    write_file_atomically(flags.json, j.dump(2) + "\n");
  }
  std::printf("%s\n", ok ? "every comparison passed" : "a comparison FAILED");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return training::run_cli_main("gpu_equivalence", kUsage,
                                [&] { return run(parse_flags(argc, argv)); });
}
