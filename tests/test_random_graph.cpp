// Random draws inside a CUDA graph capture (tensor/random.h, docs/rng.md "Draws inside a CUDA
// graph"): the generator's host bookkeeping, driven on the CPU through graph::begin_capture /
// end_capture with a fake device-state store (the two values kept in host memory, so the
// registered replay actions can be run and inspected without a GPU), the refusals (a CPU draw,
// a reseed, a CPU kernel given device state), and on a GPU (CudaRandomGraph.*, skipped with a
// reason without one) that a kernel reading its state from device memory equals the eager draw.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "expect_error.h"
#include "kernels/random.h"
#include "ops/random.h"
#include "tensor/graph_capture.h"
#include "tensor/memory.h"
#include "tensor/random.h"
#include "tests/require_cuda_graphs.h"

namespace ember {
namespace {

using testing::error_of;

const Device kGpu = Device::cuda(0);

// Host memory standing in for the generator's uint64 [2] on each device; counts the writes.
struct FakeStateStore final : PhiloxStateStore {
  uint64_t values[4][2] = {};
  int writes = 0;
  const uint64_t* state(int device) override { return values[device]; }
  void write(int device, uint64_t seed, uint64_t base) override {
    values[device][0] = seed;
    values[device][1] = base;
    ++writes;
  }
};

// A generator whose captured draws use a FakeStateStore (returned for inspection).
FakeStateStore* install_fake(RandomGenerator& gen) {
  auto store = std::make_unique<FakeStateStore>();
  FakeStateStore* raw = store.get();
  gen.set_state_store(std::move(store));
  return raw;
}

// Opens a capture on this thread for the scope; actions() ends it and hands them over.
class Capture {
 public:
  explicit Capture(int device) { graph::begin_capture(device); }
  ~Capture() {
    if (open_) graph::end_capture();
  }
  graph::ReplayActions actions() {
    open_ = false;
    return graph::end_capture();
  }

 private:
  bool open_ = true;
};

void replay(const graph::ReplayActions& actions) {
  for (const auto& action : actions.before) action();
}

// The values an eager CPU draw gives at (seed, first): the oracle for what a replayed draw reads.
std::vector<float> eager_uniform(uint64_t seed, uint64_t first, int64_t n) {
  Tensor out = empty({n});
  kernels::fill_uniform(out, PhiloxDraw{seed, first, nullptr}, 0.0, 1.0);
  return out.to_vector<float>();
}

// What the fake's state makes a captured draw read on the device, computed on the CPU.
std::vector<float> replayed_uniform(const FakeStateStore& store, const PhiloxDraw& draw, int64_t n) {
  return eager_uniform(draw.device_state[0], draw.device_state[1] + draw.first_counter, n);
}

TEST(RandomGraphCapture, DrawsGetRelativeCountersAndTheHostOffsetStaysUntilAReplay) {
  RandomGenerator gen(5);
  gen.reserve(100);
  FakeStateStore* store = install_fake(gen);
  Capture capture(0);
  const PhiloxDraw a = gen.reserve_draw(10, kGpu);
  const PhiloxDraw b = gen.reserve_draw(7, kGpu);
  EXPECT_EQ(a.first_counter, 0u);
  EXPECT_EQ(b.first_counter, 10u);
  EXPECT_EQ(a.device_state, store->values[0]);
  EXPECT_EQ(b.device_state, store->values[0]);
  EXPECT_EQ(gen.offset(), 100u);  // the capture runs nothing
  const graph::ReplayActions actions = capture.actions();
  EXPECT_EQ(actions.before.size(), 2u);
  EXPECT_TRUE(actions.after.empty());
  EXPECT_EQ(gen.offset(), 100u);
  EXPECT_EQ(store->writes, 0);
}

TEST(RandomGraphCapture, EachReplayWritesTheBaseOnceAndAdvancesByTheDrawnCount) {
  RandomGenerator gen(5);
  gen.reserve(100);
  FakeStateStore* store = install_fake(gen);
  Capture capture(0);
  const PhiloxDraw a = gen.reserve_draw(10, kGpu);
  const PhiloxDraw b = gen.reserve_draw(7, kGpu);
  const graph::ReplayActions actions = capture.actions();
  for (uint64_t start : {100u, 117u, 134u}) {
    const int writes_before = store->writes;
    replay(actions);
    EXPECT_EQ(store->writes, writes_before + 1) << "one write per replay, not one per draw";
    EXPECT_EQ(store->values[0][0], 5u);
    EXPECT_EQ(store->values[0][1] + a.first_counter, start);
    EXPECT_EQ(store->values[0][1] + b.first_counter, start + 10);
    EXPECT_EQ(gen.offset(), start + 17);
    // Bit for bit the numbers an eager run of the step would have drawn here.
    EXPECT_EQ(replayed_uniform(*store, a, 10), eager_uniform(5, start, 10));
    EXPECT_EQ(replayed_uniform(*store, b, 7), eager_uniform(5, start + 10, 7));
  }
}

TEST(RandomGraphCapture, TwoGraphsOnOneGeneratorInterleaveLikeEagerSteps) {
  RandomGenerator gen(11);
  FakeStateStore* store = install_fake(gen);
  graph::ReplayActions first, second;
  PhiloxDraw a, b1, b2;
  {
    Capture capture(0);
    a = gen.reserve_draw(10, kGpu);
    first = capture.actions();
  }
  {
    Capture capture(0);  // captured right after: no eager draw between the captures
    b1 = gen.reserve_draw(3, kGpu);
    b2 = gen.reserve_draw(4, kGpu);
    second = capture.actions();
  }
  EXPECT_EQ(gen.offset(), 0u);
  // Eager order A, B, A, B would draw at 0, 10 (and 13), 17, 27 (and 30).
  replay(first);
  EXPECT_EQ(store->values[0][1] + a.first_counter, 0u);
  replay(second);
  EXPECT_EQ(store->values[0][1] + b1.first_counter, 10u);
  EXPECT_EQ(store->values[0][1] + b2.first_counter, 13u);
  replay(first);
  EXPECT_EQ(store->values[0][1] + a.first_counter, 17u);
  replay(second);
  EXPECT_EQ(store->values[0][1] + b1.first_counter, 27u);
  EXPECT_EQ(store->values[0][1] + b2.first_counter, 30u);
  EXPECT_EQ(gen.offset(), 34u);
  EXPECT_EQ(replayed_uniform(*store, b2, 4), eager_uniform(11, 30, 4));
}

TEST(RandomGraphCapture, AReseedBetweenReplaysIsUsedByTheNextReplay) {
  RandomGenerator gen(3);
  FakeStateStore* store = install_fake(gen);
  PhiloxDraw a, b;
  graph::ReplayActions actions;
  {
    Capture capture(0);
    a = gen.reserve_draw(6, kGpu);
    b = gen.reserve_draw(2, kGpu);
    actions = capture.actions();
  }
  replay(actions);
  replay(actions);
  EXPECT_EQ(gen.offset(), 16u);
  gen.set_state(42, 0);
  replay(actions);
  EXPECT_EQ(store->values[0][0], 42u);
  EXPECT_EQ(store->values[0][1] + a.first_counter, 0u);
  EXPECT_EQ(store->values[0][1] + b.first_counter, 6u);
  EXPECT_EQ(gen.offset(), 8u);
  EXPECT_EQ(replayed_uniform(*store, b, 2), eager_uniform(42, 6, 2));
  // Back to the same state: the device already holds that {seed, base}, so the write is
  // skipped, and the draws still read the right counters.
  gen.set_state(42, 0);
  const int writes = store->writes;
  replay(actions);
  EXPECT_EQ(store->writes, writes);
  EXPECT_EQ(store->values[0][1] + b.first_counter, 6u);
  EXPECT_EQ(gen.offset(), 8u);
}

TEST(RandomGraphCapture, OutsideACaptureDrawsAreEagerOnEveryDevice) {
  RandomGenerator gen(8);
  const PhiloxDraw eager = gen.reserve_draw(5, Device::cpu());
  EXPECT_EQ(eager.seed, 8u);
  EXPECT_EQ(eager.first_counter, 0u);
  EXPECT_EQ(eager.device_state, nullptr);
  EXPECT_EQ(gen.offset(), 5u);
  const PhiloxDraw on_gpu = gen.reserve_draw(4, kGpu);  // not capturing: eager on any device
  EXPECT_EQ(on_gpu.first_counter, 5u);
  EXPECT_EQ(on_gpu.device_state, nullptr);
  EXPECT_EQ(gen.offset(), 9u);
}

TEST(RandomGraphCapture, CpuDrawsAndReseedsWhileCapturingFailNamingThemselves) {
  RandomGenerator gen(1);
  install_fake(gen);
  const Tensor x = ones({3});  // made before the capture: a CPU fill would be refused too
  Capture capture(0);
  EXPECT_NE(error_of([&] { rand_uniform({4}, gen); }).find("a random draw on the CPU"),
            std::string::npos);
  EXPECT_NE(error_of([&] { dropout(x, 0.5, true, gen); }).find("a random draw on the CPU"),
            std::string::npos);
  EXPECT_NE(error_of([&] { gen.reserve_draw(2, Device::cuda(1)); })
                .find("a random draw on a CUDA device other than the capture's"),
            std::string::npos);
  EXPECT_NE(error_of([&] { gen.set_state(2, 0); }).find("setting a random generator's state"),
            std::string::npos);
  EXPECT_EQ(gen.offset(), 0u);
  EXPECT_EQ(gen.seed(), 1u);
  EXPECT_TRUE(capture.actions().before.empty());
}

TEST(RandomGraphCapture, CpuKernelsRefuseADeviceState) {
  const uint64_t state[2] = {1, 2};
  Tensor f = empty({3}), k = empty({3}, {.dtype = DType::Int64});
  for (const std::string& message :
       {error_of([&] { kernels::fill_uniform(f, PhiloxDraw{1, 0, state}, 0, 1); }),
        error_of([&] { kernels::fill_normal(f, PhiloxDraw{1, 0, state}, 0, 1); }),
        error_of([&] { kernels::fill_bernoulli(f, PhiloxDraw{1, 0, state}, 0.5); }),
        error_of([&] { kernels::random_keys(k, PhiloxDraw{1, 0, state}); })})
    EXPECT_NE(message.find("reads its Philox state from device memory"), std::string::npos)
        << message;
}

TEST(RandomGraphCapture, ACopyKeepsTheStateButNotTheGraphBookkeeping) {
  RandomGenerator gen(4);
  FakeStateStore* store = install_fake(gen);
  graph::ReplayActions actions;
  {
    Capture capture(0);
    gen.reserve_draw(3, kGpu);
    actions = capture.actions();
  }
  RandomGenerator copy = gen;
  EXPECT_EQ(copy.seed(), 4u);
  replay(actions);  // advances the original only
  EXPECT_EQ(gen.offset(), 3u);
  EXPECT_EQ(copy.offset(), 0u);
  EXPECT_EQ(store->writes, 1);
  copy.set_state_store(std::make_unique<FakeStateStore>());  // a copy has no store of its own yet
}

// --- On a GPU --------------------------------------------------------------------------------

#define EMBER_SKIP_WITHOUT_GPU()                                                           \
  if (!cuda_available())                                                                   \
  GTEST_SKIP() << (built_with_cuda() ? "no CUDA device visible"                            \
                                     : "this build has no CUDA backend (EMBER_CUDA=OFF)")  \
               << ": device-state draws not run"

// Every kernel given a device state equals the eager draw at (seed, base + relative), bit for
// bit; the seed passed by value is a decoy, and one base wraps past 2^64 with its relative.
TEST(CudaRandomGraph, KernelsReadingDeviceStateEqualTheEagerDrawAtBasePlusRelative) {
  EMBER_SKIP_WITHOUT_GPU();
  struct Case { uint64_t seed, base, relative; };
  for (const Case c : {Case{1234, 77, 0}, Case{99, (1ULL << 32) - 5, 4100},
                       Case{7, ~0ULL - 2, 10}}) {
    Tensor state = from_vector<int64_t>({static_cast<int64_t>(c.seed), static_cast<int64_t>(c.base)},
                                        {2})
                       .to(kGpu);
    const PhiloxDraw captured{c.seed ^ 0xdeadbeef, c.relative,
                              reinterpret_cast<const uint64_t*>(state.data<int64_t>())};
    const PhiloxDraw eager{c.seed, c.base + c.relative, nullptr};
    for (DType dt : {DType::Float32, DType::Float64}) {
      Tensor a = empty({70001}, {.dtype = dt, .device = kGpu}), b = empty_like(a);
      kernels::fill_uniform(a, eager, -2, 3);
      kernels::fill_uniform(b, captured, -2, 3);
      EXPECT_EQ(b.to_vector<double>(), a.to_vector<double>()) << "uniform " << dtype_name(dt);
      kernels::fill_normal(a, eager, 0.5, 2);
      kernels::fill_normal(b, captured, 0.5, 2);
      EXPECT_EQ(b.to_vector<double>(), a.to_vector<double>()) << "normal " << dtype_name(dt);
    }
    for (DType dt : {DType::UInt8, DType::Float32}) {
      Tensor a = empty({70001}, {.dtype = dt, .device = kGpu}), b = empty_like(a);
      kernels::fill_bernoulli(a, eager, 0.3);
      kernels::fill_bernoulli(b, captured, 0.3);
      EXPECT_EQ(b.to_vector<double>(), a.to_vector<double>()) << "bernoulli " << dtype_name(dt);
    }
    Tensor k1 = empty({4099}, {.dtype = DType::Int64, .device = kGpu}), k2 = empty_like(k1);
    kernels::random_keys(k1, eager);
    kernels::random_keys(k2, captured);
    EXPECT_EQ(k2.to_vector<int64_t>(), k1.to_vector<int64_t>()) << "random_keys";
    // And the CPU reference agrees with the eager GPU draw.
    Tensor cpu = empty({4099}, {.dtype = DType::Int64});
    kernels::random_keys(cpu, eager);
    EXPECT_EQ(k1.to_vector<int64_t>(), cpu.to_vector<int64_t>());
  }
}

// The default store: a real uint64 [2] on cuda:0 written by the replay actions (a non_blocking
// copy from pinned memory). The capture state is opened by hand, so the draw's kernel is run
// after the actions, as a replay would run it.
TEST(CudaRandomGraph, ReplayActionsWriteTheDeviceStateTheKernelsRead) {
  EMBER_REQUIRE_CUDA_GRAPHS();  // a private pool: the caching allocator
  RandomGenerator gen(77);
  gen.reserve(1000);
  PhiloxDraw a, b;
  graph::ReplayActions actions;
  // The state tensor is allocated at the first captured draw: from a private pool, as in a real
  // capture (the main pool refuses a capturing thread).
  const uint64_t pool = cuda_graph_pool_open(0);
  {
    Capture capture(0);
    cuda_graph_pool_route(0, pool);
    a = gen.reserve_draw(500, kGpu);
    b = gen.reserve_draw(300, kGpu);
    cuda_graph_pool_route(0, 0);
    actions = capture.actions();
  }
  cuda_graph_pool_release(0, pool);  // given back when the generator goes
  ASSERT_NE(a.device_state, nullptr);
  for (int step = 0; step < 3; ++step) {
    const uint64_t start = gen.offset();
    replay(actions);
    Tensor ga = empty({500}, {.device = kGpu}), gb = empty({300}, {.device = kGpu});
    kernels::fill_uniform(ga, a, 0, 1);
    kernels::fill_uniform(gb, b, 0, 1);
    EXPECT_EQ(ga.to_vector<float>(), eager_uniform(77, start, 500)) << "replay " << step;
    EXPECT_EQ(gb.to_vector<float>(), eager_uniform(77, start + 500, 300)) << "replay " << step;
    EXPECT_EQ(gen.offset(), start + 800);
  }
}

}  // namespace
}  // namespace ember
