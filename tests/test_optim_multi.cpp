// Multi-tensor optimizer kernels (kernels/optim.h, *_multi) on the CPU against the per-tensor
// kernels they replace in the optimizers, bit for bit: Adam/AdamW, SGD (momentum first step,
// dampening, Nesterov, weight decay), the weight EMA against its old mul_/add_ pair, and
// clip_grad_norm's device path against the composite sum(g * g) / mul_ code it replaced.
// Lists mix empty, odd and multi-chunk sizes (kListChunk) with more tensors than one CUDA argument
// block holds (kListTensors), so the chunking the CUDA side shares is exercised too; and the
// optimizers' device-held scalars (lr, step counts) against their host mirrors.
// CPU against CUDA: tests/test_cuda_optim.cpp.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "kernels/optim.h"
#include "kernels/optim_step.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "optim/clip.h"
#include "optim/ema.h"
#include "optim/sgd.h"
#include "tests/device_compare.h"
#include "tensor/dispatch_count.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using kernels::TensorList;
using testing::random_tensor;

// Sizes: empty, one, odd, just over one chunk, over two chunks (odd), then many small tensors
// (more than kListTensors in all).
std::vector<int64_t> list_sizes() {
  std::vector<int64_t> sizes = {0, 1, 7, 1000, kernels::kListChunk + 3, 2 * kernels::kListChunk + 1};
  for (int64_t i = 0; i < 2 * kernels::kListTensors; ++i) sizes.push_back(1 + (i * 37) % 101);
  return sizes;
}

TensorList random_list(const std::vector<int64_t>& sizes, uint64_t seed, DType dtype, double low,
                       double high) {
  TensorList out;
  for (size_t i = 0; i < sizes.size(); ++i)
    out.push_back(random_tensor({sizes[i]}, seed + 7919 * i, dtype, low, high));
  return out;
}

TensorList clones(const TensorList& list) {
  TensorList out;
  for (const Tensor& t : list) out.push_back(t.clone());
  return out;
}

// "" when every tensor of `got` equals `want` bit for bit (as doubles: exact for float32 too).
std::string bit_diff(const TensorList& got, const TensorList& want, const std::string& what) {
  if (got.size() != want.size()) return what + ": list sizes differ";
  for (size_t t = 0; t < got.size(); ++t) {
    const std::vector<double> a = got[t].to_vector<double>(), b = want[t].to_vector<double>();
    if (a.size() != b.size()) return what + ": tensor " + std::to_string(t) + " sizes differ";
    for (size_t i = 0; i < a.size(); ++i)
      if (std::memcmp(&a[i], &b[i], sizeof(double)) != 0)
        return what + ": tensor " + std::to_string(t) + " element " + std::to_string(i) + " is " +
               std::to_string(a[i]) + ", want " + std::to_string(b[i]);
  }
  return "";
}

Tensor scalars_tensor(std::vector<double> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  return from_vector<double>(values, {n}, {.dtype = DType::Float64});
}

TEST(OptimMultiKernel, AdamMatchesPerTensorBitForBit) {
  const std::vector<int64_t> sizes = list_sizes();
  const size_t n = sizes.size();
  struct Config {
    double weight_decay;
    bool decoupled;
  };
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (const Config& c : {Config{0.0, false}, Config{1e-2, false}, Config{1e-2, true}}) {
      const TensorList p_ref = random_list(sizes, 1, dtype, -1, 1), p = clones(p_ref);
      const TensorList m_ref = random_list(sizes, 2, dtype, -0.1, 0.1), m = clones(m_ref);
      const TensorList v_ref = random_list(sizes, 3, dtype, 0, 0.01), v = clones(v_ref);
      // Step counts differ per tensor (as when some parameters skipped steps): 0 or 4 so far.
      std::vector<double> scalars_values = {3e-3};
      std::vector<int64_t> slots, steps_ref;
      for (size_t t = 0; t < n; ++t) {
        scalars_values.push_back(t % 3 == 0 ? 4.0 : 0.0);
        slots.push_back(static_cast<int64_t>(1 + t));
        steps_ref.push_back(t % 3 == 0 ? 4 : 0);
      }
      const Tensor scalars = scalars_tensor(scalars_values);
      for (int step = 0; step < 3; ++step) {
        const TensorList g = random_list(sizes, 100 + step, dtype, -1, 1);
        for (size_t t = 0; t < n; ++t)
          kernels::adam_step(p_ref[t], g[t], m_ref[t], v_ref[t], 3e-3, 0.9, 0.999, 1e-8,
                             c.weight_decay, c.decoupled, ++steps_ref[t]);
        kernels::adam_step_multi(p, g, m, v, scalars, slots, 0.9, 0.999, 1e-8, c.weight_decay,
                                 c.decoupled);
      }
      const std::string what = std::string(dtype_name(dtype)) + (c.decoupled ? " AdamW" : " Adam") +
                               " wd " + std::to_string(c.weight_decay);
      EXPECT_EQ(bit_diff(p, p_ref, "param " + what), "");
      EXPECT_EQ(bit_diff(m, m_ref, "exp_avg " + what), "");
      EXPECT_EQ(bit_diff(v, v_ref, "exp_avg_sq " + what), "");
      const std::vector<double> counted = scalars.to_vector<double>();
      EXPECT_EQ(counted[0], 3e-3) << "the learning rate slot is only read";
      for (size_t t = 0; t < n; ++t)
        EXPECT_EQ(counted[1 + t], static_cast<double>(steps_ref[t])) << "step slot of tensor " << t;
    }
  }
}

TEST(OptimMultiKernel, SgdMatchesPerTensorBitForBit) {
  const std::vector<int64_t> sizes = list_sizes();
  const size_t n = sizes.size();
  struct Config {
    double momentum, dampening, weight_decay;
    bool nesterov;
  };
  const std::vector<Config> configs = {{0.0, 0.0, 0.0, false}, {0.0, 0.0, 1e-2, false},
                                       {0.9, 0.0, 0.0, false}, {0.9, 0.25, 1e-2, false},
                                       {0.9, 0.0, 1e-2, true}};
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (const Config& c : configs) {
      const TensorList p_ref = random_list(sizes, 4, dtype, -1, 1), p = clones(p_ref);
      // Buffers start as garbage: the first step must ignore them (odd tensors start later).
      const TensorList b_ref = random_list(sizes, 5, dtype, -9, 9), b = clones(b_ref);
      for (int step = 0; step < 3; ++step) {
        const TensorList g = random_list(sizes, 200 + step, dtype, -1, 1);
        std::vector<uint8_t> first(n);
        for (size_t t = 0; t < n; ++t) {
          first[t] = (step == 0 && t % 2 == 0) || (step == 1 && t % 2 == 1);
          kernels::sgd_step(p_ref[t], g[t], c.momentum != 0.0 ? b_ref[t] : Tensor(), 0.05,
                            c.momentum, c.dampening, c.weight_decay, c.nesterov, first[t] != 0);
        }
        kernels::sgd_step_multi(p, g, c.momentum != 0.0 ? b : TensorList(), first,
                                scalars_tensor({0.05}), c.momentum, c.dampening, c.weight_decay,
                                c.nesterov);
      }
      const std::string what = std::string(dtype_name(dtype)) + " momentum " +
                               std::to_string(c.momentum) + " dampening " +
                               std::to_string(c.dampening) + " wd " +
                               std::to_string(c.weight_decay) + (c.nesterov ? " nesterov" : "");
      EXPECT_EQ(bit_diff(p, p_ref, "param " + what), "");
      if (c.momentum != 0.0) {
        EXPECT_EQ(bit_diff(b, b_ref, "buffer " + what), "");
      }
    }
  }
}

TEST(OptimMultiKernel, EmaMatchesTheMulAddPairBitForBit) {
  const std::vector<int64_t> sizes = list_sizes();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (bool warmup : {false, true}) {
      const TensorList s_ref = random_list(sizes, 6, dtype, -1, 1), s = clones(s_ref);
      const Tensor count = scalars_tensor({-1.0, 0.0});  // slot 1; slot 0 must stay untouched
      for (int update = 0; update < 3; ++update) {
        const TensorList p = random_list(sizes, 300 + update, dtype, -1, 1);
        const double d = kernels::optim_step::ema_decay(0.99, warmup, update);
        for (size_t t = 0; t < s_ref.size(); ++t) {  // what ExponentialMovingAverage ran before
          mul_(s_ref[t], d);
          add_(s_ref[t], p[t], 1.0 - d);
        }
        kernels::ema_update_multi(s, p, count, 1, 0.99, warmup, /*count_update=*/true);
      }
      const std::string what = std::string(dtype_name(dtype)) + (warmup ? " warm-up" : "");
      EXPECT_EQ(bit_diff(s, s_ref, "shadow " + what), "");
      EXPECT_EQ(count.to_vector<double>(), std::vector<double>({-1.0, 3.0})) << what;
    }
  }
  // count_update false leaves the count for a later group of the same update.
  const TensorList s = {zeros({3}, {.dtype = DType::Float64})};
  const Tensor count = scalars_tensor({5.0});
  kernels::ema_update_multi(s, {ones({3}, {.dtype = DType::Float64})}, count, 0, 0.5, false,
                            false);
  EXPECT_EQ(count.to_vector<double>(), std::vector<double>({5.0}));
  EXPECT_EQ(s[0].to_vector<double>(), std::vector<double>({0.5, 0.5, 0.5}));
}

TEST(OptimMultiKernel, ResultsDoNotDependOnTheThreadCount) {
  const std::vector<int64_t> sizes = list_sizes();
  const int threads = omp_get_max_threads();
  TensorList results[2];
  for (int run = 0; run < 2; ++run) {
    omp_set_num_threads(run == 0 ? 1 : 3);
    const TensorList p = random_list(sizes, 7, DType::Float32, -1, 1);
    const TensorList m = random_list(sizes, 8, DType::Float32, 0, 0);
    const TensorList v = random_list(sizes, 9, DType::Float32, 0, 0);
    std::vector<int64_t> slots;
    for (size_t t = 0; t < sizes.size(); ++t) slots.push_back(static_cast<int64_t>(1 + t));
    const Tensor scalars = zeros({static_cast<int64_t>(1 + sizes.size())}, {.dtype = DType::Float64});
    const TensorList g = random_list(sizes, 10, DType::Float32, -1, 1);
    kernels::adam_step_multi(p, g, m, v, scalars, slots, 0.9, 0.999, 1e-8, 0.0, false);
    results[run] = p;
  }
  omp_set_num_threads(threads);
  EXPECT_EQ(bit_diff(results[1], results[0], "1 thread against 3"), "");
}

TEST(OptimMultiKernel, RejectsMixedListsAndBadScalars) {
  const Tensor a = zeros({2}, {.dtype = DType::Float32});
  const Tensor b = zeros({2}, {.dtype = DType::Float64});
  const Tensor s = scalars_tensor({0.1, 0.0, 0.0});
  EXPECT_ERROR_MENTIONS(kernels::adam_step_multi({a, b}, {a, b}, {a, b}, {a, b}, s, {1, 2}, 0.9,
                                                 0.999, 1e-8, 0, false),
                        "one dtype and device");
  EXPECT_ERROR_MENTIONS(kernels::adam_step_multi({a}, {a}, {a}, {a}, s, {0}, 0.9, 0.999, 1e-8, 0,
                                                 false),
                        "slot 0 is the learning rate");
  EXPECT_ERROR_MENTIONS(kernels::sgd_step_multi({a}, {a}, {}, {0}, zeros({1}), 0, 0, 0, false),
                        "float64");
  EXPECT_ERROR_MENTIONS(kernels::sgd_step_multi({a}, {a}, {}, {0}, s, 0.9, 0, 0, false),
                        "momentum_buffers has 0 tensors");
  EXPECT_ERROR_MENTIONS(kernels::sgd_step_multi({a}, {zeros({3})}, {}, {0}, s, 0, 0, 0, false),
                        "does not match param");
}

// ---- the optimizers on top ----

struct Net {
  std::vector<Tensor> params;
};

// Parameters of mixed dtypes and sizes (two dtype groups, an empty one, one over a chunk).
Net make_net(uint64_t seed) {
  Net net;
  const std::vector<int64_t> sizes = {5, 0, kernels::kListChunk + 9, 3, 17, 1};
  for (size_t i = 0; i < sizes.size(); ++i) {
    const DType dtype = i % 2 == 0 ? DType::Float32 : DType::Float64;
    net.params.push_back(random_tensor({sizes[i]}, seed + i, dtype, -1, 1, true));
  }
  return net;
}

void set_grads(Net& net, uint64_t seed, const std::vector<size_t>& without_grad) {
  for (size_t i = 0; i < net.params.size(); ++i) {
    Tensor& g = net.params[i].mutable_grad();
    bool skip = false;
    for (size_t k : without_grad) skip = skip || k == i;
    g = skip ? Tensor() : random_tensor(net.params[i].shape(), seed + i, net.params[i].dtype());
  }
}

TEST(OptimMulti, AdamWOverMixedGroupsMatchesPerTensorKernels) {
  Net net = make_net(11), ref = make_net(11);
  optim::AdamW adamw(net.params, {.lr = 2e-3, .weight_decay = 0.05});
  std::vector<Tensor> m(ref.params.size()), v(ref.params.size());
  std::vector<int64_t> steps(ref.params.size(), 0);
  NoGradGuard no_grad;
  for (int step = 0; step < 4; ++step) {
    const std::vector<size_t> skipped = step == 1 ? std::vector<size_t>{2, 3} : std::vector<size_t>{};
    set_grads(net, 400 + 10 * step, skipped);
    set_grads(ref, 400 + 10 * step, skipped);
    if (step == 2) adamw.set_lr(5e-4);
    const double lr = step >= 2 ? 5e-4 : 2e-3;
    adamw.step();
    for (size_t i = 0; i < ref.params.size(); ++i) {
      if (!ref.params[i].grad().defined()) continue;
      if (!m[i].defined()) {
        m[i] = zeros_like(ref.params[i]);
        v[i] = zeros_like(ref.params[i]);
      }
      kernels::adam_step(ref.params[i], ref.params[i].grad(), m[i], v[i], lr, 0.9, 0.999, 1e-8,
                         0.05, true, ++steps[i]);
    }
  }
  EXPECT_EQ(bit_diff(net.params, ref.params, "AdamW params"), "");
  const std::vector<double> scalars = adamw.device_scalars().to_vector<double>();
  ASSERT_EQ(scalars.size(), 1 + ref.params.size());
  EXPECT_EQ(scalars[0], 5e-4);
  for (size_t i = 0; i < ref.params.size(); ++i) {
    EXPECT_EQ(adamw.param_step(i), steps[i]) << "host mirror of parameter " << i;
    EXPECT_EQ(scalars[1 + i], static_cast<double>(steps[i])) << "device count of parameter " << i;
  }
  EXPECT_EQ(adamw.param_step(2), 3) << "parameter 2 skipped a step";
}

TEST(OptimMulti, SgdOverMixedGroupsMatchesPerTensorKernels) {
  Net net = make_net(12), ref = make_net(12);
  const optim::SGDOptions options{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3,
                                  .nesterov = true};
  optim::SGD sgd(net.params, options);
  std::vector<Tensor> buffers(ref.params.size());
  NoGradGuard no_grad;
  for (int step = 0; step < 3; ++step) {
    const std::vector<size_t> skipped = step == 0 ? std::vector<size_t>{4} : std::vector<size_t>{};
    set_grads(net, 500 + 10 * step, skipped);
    set_grads(ref, 500 + 10 * step, skipped);
    sgd.step();
    for (size_t i = 0; i < ref.params.size(); ++i) {
      if (!ref.params[i].grad().defined()) continue;
      const bool first = !buffers[i].defined();
      if (first) buffers[i] = empty_like(ref.params[i]);
      kernels::sgd_step(ref.params[i], ref.params[i].grad(), buffers[i], 0.1, 0.9, 0.0, 1e-3, true,
                        first);
    }
  }
  EXPECT_EQ(bit_diff(net.params, ref.params, "SGD params"), "");
  for (size_t i = 0; i < ref.params.size(); ++i)
    EXPECT_EQ(bit_diff({sgd.momentum_buffer(i)}, {buffers[i]}, "buffer " + std::to_string(i)), "");
}

TEST(OptimMulti, SetLrAndLoadStateWriteTheDeviceScalarsInPlace) {
  Tensor p = random_tensor({4}, 13, DType::Float64, -1, 1, true);
  optim::Adam adam({p}, {.lr = 1e-2});
  EXPECT_FALSE(adam.device_scalars().defined()) << "made on the first step";
  p.mutable_grad() = random_tensor({4}, 14, DType::Float64);
  adam.step();
  const Tensor scalars = adam.device_scalars();
  EXPECT_EQ(scalars.to_vector<double>(), std::vector<double>({1e-2, 1.0}));
  adam.set_lr(0.5);
  EXPECT_EQ(scalars.to_vector<double>(), std::vector<double>({0.5, 1.0}));
  optim::OptimizerState state = adam.state();
  adam.step();
  EXPECT_EQ(scalars.to_vector<double>(), std::vector<double>({0.5, 2.0}));
  adam.load_state(state);
  EXPECT_TRUE(adam.device_scalars().same(scalars)) << "the same tensor, rewritten";
  EXPECT_EQ(scalars.to_vector<double>(), std::vector<double>({0.5, 1.0}));
  EXPECT_EQ(adam.param_step(0), 1);
}

TEST(OptimMulti, EmaCountsOnTheDeviceAndMatchesTheMulAddPair) {
  const Net net = make_net(15);
  nn::NamedTensors named;
  std::vector<Tensor> shadows;
  for (size_t i = 0; i < net.params.size(); ++i) {
    named.emplace_back("p" + std::to_string(i), net.params[i]);
    shadows.push_back(net.params[i].detach().clone());
  }
  optim::ExponentialMovingAverage ema(named, 0.999, /*num_updates_warmup=*/true);
  NoGradGuard no_grad;
  for (int update = 0; update < 3; ++update) {
    const double d = ema.next_decay();
    for (size_t i = 0; i < net.params.size(); ++i) {
      copy_(net.params[i], random_tensor(net.params[i].shape(), 600 + 10 * update + i,
                                         net.params[i].dtype()));
      mul_(shadows[i], d);
      add_(shadows[i], net.params[i].detach(), 1.0 - d);
    }
    ema.update();
  }
  for (size_t i = 0; i < shadows.size(); ++i)
    EXPECT_EQ(bit_diff({ema.shadow(i)}, {shadows[i]}, "shadow " + std::to_string(i)), "");
  EXPECT_EQ(ema.num_updates(), 3);
  EXPECT_EQ(ema.device_count().to_vector<double>(), std::vector<double>({3.0}));
  const optim::OptimizerState state = ema.state();
  ema.update();
  ema.load_state(state);
  EXPECT_EQ(ema.device_count().to_vector<double>(), std::vector<double>({3.0}));
}

// The clip_grad_norm this file's device path replaced: per-gradient sum(g * g) in its dtype,
// added in float64, one host read, mul_ when the coefficient is < 1 or NaN.
double composite_clip_grad_norm(const std::vector<Tensor>& grads, double max_norm) {
  Tensor total;
  for (const Tensor& g : grads) {
    const Tensor squares = to_dtype(sum(g * g), DType::Float64);
    total = total.defined() ? total + squares : squares;
  }
  const double total_norm = std::sqrt(total.item<double>());
  const double clip_coef = max_norm / (total_norm + 1e-6);
  if (clip_coef < 1.0 || std::isnan(clip_coef))
    for (const Tensor& g : grads) mul_(g, clip_coef);
  return total_norm;
}

TEST(OptimMulti, ClipGradNormDevicePathMatchesTheCompositeBitForBit) {
  for (double max_norm : {0.5, 1e6}) {  // clipping and not
    Net net = make_net(16), ref = make_net(16);
    set_grads(net, 700, {3});
    set_grads(ref, 700, {3});
    NoGradGuard no_grad;
    std::vector<Tensor> ref_grads, net_grads;
    for (size_t i = 0; i < ref.params.size(); ++i)
      if (ref.params[i].grad().defined()) {
        ref_grads.push_back(ref.params[i].grad());
        net_grads.push_back(net.params[i].grad());
      }
    const double want = composite_clip_grad_norm(ref_grads, max_norm);
    const Tensor norm = optim::clip_grad_norm_device(net.params, max_norm);
    EXPECT_EQ(norm.shape(), Shape({1}));
    EXPECT_EQ(norm.dtype(), DType::Float64);
    EXPECT_EQ(norm.item<double>(), want) << "max_norm " << max_norm;
    EXPECT_EQ(bit_diff(net_grads, ref_grads, "grads, max_norm " + std::to_string(max_norm)), "");
  }
}

TEST(OptimMulti, ClipGradNormDevicePathLeavesGradsForANonFiniteNormWhenAskedToFail) {
  Tensor p = random_tensor({3}, 17, DType::Float32, -1, 1, true);
  p.mutable_grad() = from_vector<double>({1.0, std::numeric_limits<double>::quiet_NaN(), 2.0}, {3},
                                         {.dtype = DType::Float32});
  const Tensor norm = optim::clip_grad_norm_device({p}, 1.0, /*error_if_nonfinite=*/true);
  EXPECT_TRUE(std::isnan(norm.item<double>()));
  const std::vector<double> g = p.grad().to_vector<double>();
  EXPECT_EQ(g[0], 1.0);
  EXPECT_EQ(g[2], 2.0);
  EXPECT_ERROR_MENTIONS(optim::clip_grad_norm({p}, 1.0, true), "nan");
  EXPECT_EQ(p.grad().to_vector<double>()[0], 1.0) << "unchanged after the error";
  // Without the check the NaN coefficient scales every gradient, as PyTorch does.
  optim::clip_grad_norm({p}, 1.0, false);
  EXPECT_TRUE(std::isnan(p.grad().to_vector<double>()[0]));
}


// One dispatch per (device, dtype) group, whatever the number of parameters: the mixed net has
// six parameters in two dtype groups.
TEST(OptimMulti, OneDispatchPerDtypeGroup) {
  Net net = make_net(18);
  set_grads(net, 800, {});
  optim::AdamW adamw(net.params);
  optim::SGD sgd(net.params, {.lr = 0.1, .momentum = 0.9});
  nn::NamedTensors named;
  for (size_t i = 0; i < net.params.size(); ++i)
    named.emplace_back("p" + std::to_string(i), net.params[i]);
  optim::ExponentialMovingAverage ema(named, 0.99);
  adamw.step();  // the first step makes the state and the device-held scalars
  sgd.step();
  ema.update();
  uint64_t before = dispatch_count();
  adamw.step();
  EXPECT_EQ(dispatch_count() - before, 2u) << "AdamW step";
  before = dispatch_count();
  sgd.step();
  EXPECT_EQ(dispatch_count() - before, 2u) << "SGD step";
  before = dispatch_count();
  ema.update();
  EXPECT_EQ(dispatch_count() - before, 2u) << "EMA update";
  before = dispatch_count();
  optim::clip_grad_norm_device(net.params, 1.0);
  // Sums of squares and scale per group, one coefficient.
  EXPECT_EQ(dispatch_count() - before, 5u) << "clip_grad_norm_device";
}


TEST(OptimMulti, ClipGradNormDevicePathScalesAStridedGradientInPlace) {
  Tensor p = random_tensor({3, 2}, 19, DType::Float64, -1, 1, true);
  const Tensor storage = from_vector<double>({3, 4, 0, 0, 0, 0}, {2, 3}, {.dtype = DType::Float64});
  p.mutable_grad() = storage.permute({1, 0});  // [[3, 0], [4, 0], [0, 0]], not contiguous
  ASSERT_FALSE(p.grad().is_contiguous());
  EXPECT_EQ(optim::clip_grad_norm_device({p}, 2.5).item<double>(), 5.0);
  const double coef = 2.5 / (5.0 + 1e-6);
  EXPECT_EQ(p.grad().raw_data(), storage.raw_data()) << "the same .grad memory";
  EXPECT_EQ(storage.to_vector<double>(), std::vector<double>({3 * coef, 4 * coef, 0, 0, 0, 0}));
}

}  // namespace
}  // namespace ember
