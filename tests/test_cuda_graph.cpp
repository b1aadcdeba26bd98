// CUDA graphs: the host-side capture rules (tensor/graph_capture.h) on the CPU, and on a GPU
// (suites Cuda*, skipped with the reason without one) CudaGraph itself (tensor/cuda_graph.h) and
// GraphedStep (training/graphed_step.h): replays redo the captured work on the current contents
// of the tensors it read, allocations of a capture stay the graph's, host work inside a capture
// fails naming itself and leaves nothing open, a loader thread may allocate pinned memory
// during a capture, and a graphed training step of a small EfficientNet (dropout, drop-connect,
// Adam, a weight average) gives the numbers of eager steps bit for bit.
// The trainers' graphed steps are checked end to end in test_training_trainer.cpp and
// test_gan_trainer.cpp (CudaClassifierTrainer, CudaGanTrainer).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "autograd/grad_mode.h"
#include "kernels/backend_settings.h"
#include "models/efficientnet.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "optim/ema.h"
#include "tensor/cuda_graph.h"
#include "tensor/dispatch_count.h"
#include "tensor/graph_capture.h"
#include "tensor/memory.h"
#include "tests/device_compare.h"
#include "tests/require_cuda_graphs.h"
#include "tests/expect_error.h"
#include "tests/tiny_efficientnet.h"
#include "training/graphed_step.h"

namespace ember {
namespace {

const Device kGpu = Device::cuda(0);

// Opens this thread's capture state for the length of a scope, as CudaGraph does around a body.
struct OpenCapture {
  OpenCapture() { graph::begin_capture(0); }
  ~OpenCapture() { graph::end_capture(); }
};

TEST(GraphCapture, CpuKernelsCopiesAndReadsAreRefusedNamingThemselves) {
  const Tensor a = ones({3});
  {
    OpenCapture capture;
    ASSERT_TRUE(graph::capturing());
    EXPECT_EQ(graph::capture_device(), 0);
    testing::expect_error([&] { (void)add(a, a); }, {"CPU kernel Add", "CUDA graph", "cuda:0"});
    testing::expect_error([&] { (void)a.clone(); }, {"copy in CPU memory", "CUDA graph"});
    testing::expect_error([&] { fill_(a, 2.0); }, {"fill of CPU memory", "CUDA graph"});
    testing::expect_error([&] { (void)a.to_vector<float>(); }, {"CUDA graph"});
  }
  EXPECT_EQ(a.to_vector<float>(), std::vector<float>({1, 1, 1}));  // nothing ran
}

TEST(GraphCapture, StateIsPerThreadAndClosesCleanly) {
  EXPECT_FALSE(graph::capturing());
  EXPECT_EQ(graph::capture_device(), -1);
  {
    OpenCapture capture;
    bool other_thread_capturing = true;
    std::thread([&] { other_thread_capturing = graph::capturing(); }).join();
    EXPECT_FALSE(other_thread_capturing);  // a loader thread beside a capture is not refused
    testing::expect_error([] { graph::begin_capture(0); }, {"already being captured", "nest"});
  }
  EXPECT_FALSE(graph::capturing());
  EXPECT_EQ(add(ones({1}), ones({1})).item<float>(), 2.0f);  // CPU work runs again
  testing::expect_error([] { graph::before_each_replay([] {}); }, {"no CUDA graph"});
  testing::expect_error([] { graph::after_each_replay([] {}); }, {"no CUDA graph"});
}

TEST(GraphCapture, ReplayActionsComeBackInOrder) {
  std::vector<int> order;
  graph::begin_capture(0);
  graph::before_each_replay([&] { order.push_back(1); });
  graph::after_each_replay([&] { order.push_back(3); });
  graph::before_each_replay([&] { order.push_back(2); });
  graph::ReplayActions actions = graph::end_capture();
  ASSERT_EQ(actions.before.size(), 2u);
  ASSERT_EQ(actions.after.size(), 1u);
  for (const auto& f : actions.before) f();
  for (const auto& f : actions.after) f();
  EXPECT_EQ(order, std::vector<int>({1, 2, 3}));
  EXPECT_TRUE(graph::end_capture().before.empty());  // nothing left behind
}

TEST(GraphCapture, OptimizerLearningRateCannotChangeInsideACapture) {
  Tensor w = ones({2});
  w.set_requires_grad(true);
  optim::Adam adam({w}, {.lr = 0.1});
  OpenCapture capture;
  testing::expect_error([&] { adam.set_lr(0.2); }, {"learning rate", "CUDA graph"});
  EXPECT_EQ(adam.lr(), 0.1);
}

TEST(GraphCapture, UnchangedLearningRateWritesNothing) {
  Tensor w = ones({2});
  w.set_requires_grad(true);
  optim::Adam adam({w}, {.lr = 0.1});
  w.mutable_grad() = ones({2});
  adam.step();  // makes the device-held scalars
  const uint64_t before = dispatch_count();
  adam.set_lr(0.1);
  EXPECT_EQ(dispatch_count(), before);  // same value: no copy
  adam.set_lr(0.05);
  EXPECT_GT(dispatch_count(), before);
  EXPECT_EQ(adam.device_scalars().to_vector<double>()[0], 0.05);
}

TEST(GraphCapture, GraphedStepRunsTheBodyEagerlyOnTheCpu) {
  training::GraphedStep step({.enabled = true, .device = Device::cpu()});
  EXPECT_FALSE(step.replaying());
  int calls = 0;
  for (int i = 0; i < 4; ++i) {
    const std::vector<Tensor> out = step.run({full({2}, i)}, [&](const std::vector<Tensor>& in) {
      ++calls;
      return std::vector<Tensor>{mul_scalar(in[0], 2.0)};
    });
    EXPECT_EQ(out[0].to_vector<float>(), std::vector<float>(2, 2.0f * i));
  }
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(step.captures(), 0);
  testing::expect_error([] { training::GraphedStep({.enabled = true, .warmup_steps = 0}); },
                        {"warmup_steps", ">= 1"});
}

TEST(GraphCapture, GraphedStepsRunEagerlyWhereGraphsCannotNamingWhy) {
  EXPECT_NE(training::cuda_graphs_unavailable_reason(Device::cpu()), "");
  if (cuda_graphs_available()) GTEST_SKIP() << "checks a machine without a CUDA device";
  training::GraphedStep step({.enabled = true, .device = kGpu});
  EXPECT_FALSE(step.replaying());
  EXPECT_NE(step.unavailable_reason().find("no CUDA device"), std::string::npos)
      << step.unavailable_reason();
  training::GraphedStep off({.enabled = false, .device = kGpu});
  EXPECT_EQ(off.unavailable_reason(), "");  // not asked for: nothing to explain
}

TEST(GraphCapture, CaptureWithoutADeviceIsAClearError) {
  if (cuda_graphs_available()) GTEST_SKIP() << "checks a machine without a CUDA device";
  CudaGraph g;
  testing::expect_error([&] { g.capture(0, [] {}); }, {"cuda:0"});
  EXPECT_FALSE(g.captured());
  EXPECT_FALSE(graph::capturing());
}

// ---- On a GPU ---------------------------------------------------------------------------

TEST(CudaGraph, ReplayRedoesTheWorkOnCurrentContents) {
  EMBER_REQUIRE_CUDA_GRAPHS();
  Tensor x = full({1000}, 1.0f, {.device = kGpu});
  Tensor y;
  CudaGraph g;
  g.capture(0, [&] { y = add_scalar(mul_scalar(x, 2.0), 1.0); });
  ASSERT_TRUE(g.captured());
  EXPECT_GE(g.num_nodes(), 1u);
  g.replay();
  EXPECT_EQ(y.to_vector<float>(), std::vector<float>(1000, 3.0f));
  fill_(x, 5.0);
  g.replay();
  EXPECT_EQ(y.to_vector<float>(), std::vector<float>(1000, 11.0f));
  testing::expect_error([&] { g.capture(0, [] {}); }, {"already captured"});
}

TEST(CudaGraph, CaptureAllocationsStayTheGraphs) {
  EMBER_REQUIRE_CUDA_GRAPHS();
  const Tensor x = full({1 << 16}, 1.0f, {.device = kGpu});
  Tensor y;
  const size_t reserved_before = cuda_memory_stats(0).reserved_bytes;
  {
    CudaGraph g;
    g.capture(0, [&] {
      Tensor scratch = mul_scalar(x, 3.0);  // freed inside the capture: reused only by it
      y = add(scratch, x);
    });
    EXPECT_GT(cuda_memory_stats(0).reserved_bytes, reserved_before);
    // Eager allocations after the capture never get the graph's addresses.
    const Tensor eager = empty({1 << 16}, {.device = kGpu});
    EXPECT_NE(eager.raw_data(), y.raw_data());
    g.replay();
    EXPECT_EQ(y.to_vector<float>()[7], 4.0f);
  }
  // The graph is gone but y still holds its block: y stays valid.
  EXPECT_EQ(y.to_vector<float>()[7], 4.0f);
}

TEST(CudaGraph, HostWorkInACaptureFailsAndLeavesNothingOpen) {
  EMBER_REQUIRE_CUDA_GRAPHS();
  const Tensor x = ones({4}, {.device = kGpu});
  CudaGraph g;
  testing::expect_error([&] { g.capture(0, [&] { (void)sum(x).item<float>(); }); },
                        {"copy between devices", "CUDA graph"});
  EXPECT_FALSE(g.captured());
  EXPECT_FALSE(graph::capturing());
  // The stream is usable again, eagerly and for a new capture.
  EXPECT_EQ(sum(x).item<float>(), 4.0f);
  CudaGraph h;
  Tensor y;
  h.capture(0, [&] { y = mul_scalar(x, 2.0); });
  h.replay();
  EXPECT_EQ(y.to_vector<float>(), std::vector<float>(4, 2.0f));
}

TEST(CudaGraph, ALoaderThreadMayUsePinnedMemoryDuringACapture) {
  EMBER_REQUIRE_CUDA_GRAPHS();
  // Pinned blocks with pending copies, so the loader's allocations query their events.
  for (int i = 0; i < 4; ++i) (void)empty_pinned({1024}).to(kGpu, /*non_blocking=*/true);
  std::atomic<bool> stop{false};
  std::atomic<int> allocations{0};
  std::thread loader([&] {
    while (!stop) {
      Tensor host = empty_pinned({4096}, DType::UInt8);
      ++allocations;
    }
  });
  const Tensor x = ones({256}, {.device = kGpu});
  Tensor y;
  CudaGraph g;
  EXPECT_NO_THROW(g.capture(0, [&] {
    for (int i = 0; i < 50; ++i) y = add_scalar(i == 0 ? x : y, 1.0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }));
  stop = true;
  loader.join();
  EXPECT_GT(allocations.load(), 0);
  g.replay();
  EXPECT_EQ(y.to_vector<float>()[0], 51.0f);
}

// A small EfficientNet with dropout and drop-connect, trained by Adam with a weight average:
// `steps` steps eagerly, or through a GraphedStep (2 eager warm-ups, then a capture and replays).
struct TrainedNet {
  std::vector<std::vector<float>> losses;
  std::vector<std::vector<float>> params, shadows;
  int64_t adam_steps = 0, ema_updates = 0;
  uint64_t rng_offset = 0;
  int64_t captures = 0;
};

TrainedNet train_tiny_efficientnet(bool graphs, int steps) {
  kernels::BackendSettingsGuard settings;
  kernels::set_deterministic(true);
  RandomGenerator gen(7);
  models::EfficientNet net(testing::tiny_efficientnet_config(), 4, gen,
                           {.drop_connect_rate = 0.5, .dropout_rate = 0.3});
  net.to(kGpu);
  net.train();
  optim::Adam adam(net.parameters(), {.lr = 1e-2});
  optim::ExponentialMovingAverage ema(net, 0.9, /*num_updates_warmup=*/true);
  training::GraphedStep step({.enabled = graphs, .device = kGpu});
  TrainedNet out;
  for (int s = 0; s < steps; ++s) {
    const Tensor images =
        convert(testing::random_tensor({6, 16, 16, 3}, 100 + s, DType::Float32, 0.0, 255.0),
                DType::Float32, kGpu);
    const Tensor labels = convert(from_vector<int64_t>({0, 1, 2, 3, s % 4, (s + 1) % 4}, {6},
                                                       {.dtype = DType::Int64}),
                                  DType::Int64, kGpu);
    const std::vector<Tensor> loss = step.run({images, labels}, [&](const std::vector<Tensor>& in) {
      adam.zero_grad();
      const Tensor l = cross_entropy(net(in[0]), in[1]);
      l.backward();
      adam.step();
      ema.update();
      return std::vector<Tensor>{l.detach()};
    });
    out.losses.push_back(loss[0].to_vector<float>());
  }
  for (const Tensor& p : net.parameters()) out.params.push_back(p.to_vector<float>());
  ema.swap_in();
  for (const Tensor& p : net.parameters()) out.shadows.push_back(p.to_vector<float>());
  ema.restore();
  out.adam_steps = adam.step_count();
  out.ema_updates = ema.num_updates();
  out.rng_offset = gen.offset();
  out.captures = step.captures();
  return out;
}

TEST(CudaGraphedStep, ReplayedTrainingStepsEqualEagerOnesBitForBit) {
  EMBER_REQUIRE_CUDA_GRAPHS();
  const int steps = 6;
  const TrainedNet eager = train_tiny_efficientnet(false, steps);
  const TrainedNet graphed = train_tiny_efficientnet(true, steps);
  EXPECT_EQ(eager.captures, 0);
  EXPECT_EQ(graphed.captures, 1);
  EXPECT_EQ(graphed.losses, eager.losses);  // steps 3-6 are replays
  EXPECT_EQ(graphed.params, eager.params);
  EXPECT_EQ(graphed.shadows, eager.shadows);
  // The host mirrors moved with the replays.
  EXPECT_EQ(graphed.adam_steps, steps);
  EXPECT_EQ(graphed.ema_updates, steps);
  EXPECT_EQ(graphed.rng_offset, eager.rng_offset);
}

// The debug modes a capture cannot work under make GraphedStep run eagerly, naming the mode.
TEST(CudaGraphedStep, DebugModesRunEagerlyNamingTheReason) {
  EMBER_REQUIRE_CUDA_GRAPHS();
  const auto reason_with = [](const char* name, const char* value) {
    ::setenv(name, value, 1);
    const std::string reason = training::GraphedStep({.enabled = true, .device = kGpu})
                                   .unavailable_reason();
    ::unsetenv(name);
    return reason;
  };
  EXPECT_NE(reason_with("EMBER_CUDA_ALLOCATOR", "direct").find("EMBER_CUDA_ALLOCATOR=direct"),
            std::string::npos);
  EXPECT_NE(reason_with("EMBER_CUDA_ALLOCATOR", "deferred").find("EMBER_CUDA_ALLOCATOR=deferred"),
            std::string::npos);
  EXPECT_NE(reason_with("EMBER_CUDA_SYNC", "1").find("EMBER_CUDA_SYNC"), std::string::npos);
  EXPECT_EQ(reason_with("EMBER_CUDA_SYNC", "0"), "");
}

TEST(CudaGraphedStep, AReplayIsOneLaunch) {
  EMBER_REQUIRE_CUDA_GRAPHS();
  const Tensor w = ones({8}, {.device = kGpu});
  training::GraphedStep step({.enabled = true, .device = kGpu, .warmup_steps = 1});
  const auto body = [&](const std::vector<Tensor>& in) {
    Tensor y = in[0];
    for (int i = 0; i < 20; ++i) y = add(y, w);
    return std::vector<Tensor>{y};
  };
  const Tensor x = zeros({8}, {.device = kGpu});
  step.run({x}, body);  // eager
  step.run({x}, body);  // capture + replay
  const uint64_t launches = launch_count();
  const std::vector<Tensor> out = step.run({x}, body);
  EXPECT_EQ(launch_count() - launches, 2u);  // the copy into the input buffer, the graph
  EXPECT_EQ(out[0].to_vector<float>(), std::vector<float>(8, 20.0f));
  EXPECT_GE(step.graph_nodes(), 20u);
}

}  // namespace
}  // namespace ember
