// The RandomGenerator of tensor/random.h and the process-wide default one. Its state is plain
// (seed, offset) on the host, shared by CPU and GPU draws; save it with seed()/offset() and
// replay with set_state(). Draws captured into a CUDA graph read (seed, base) from a uint64 [2]
// tensor on the capture's device that every replay writes first.
// Tested in tests/test_random.cpp; the scheme, and the graph bookkeeping, are in docs/rng.md.
#include "tensor/random.h"

#include <map>

#include "tensor/error.h"
#include "tensor/graph_capture.h"
#include "tensor/tensor.h"

namespace ember {

namespace {

// The default store: a uint64 [2] tensor per device (int64 holds the bits).
class TensorStateStore final : public PhiloxStateStore {
 public:
  const uint64_t* state(int device) override {
    Tensor& t = tensors_[device];
    // A plain empty tensor: no kernel runs for it, so nothing extra lands in a graph.
    if (!t.defined()) t = empty({2}, {DType::Int64, Device::cuda(device)});
    return reinterpret_cast<const uint64_t*>(t.data<int64_t>());
  }
  void write(int device, uint64_t seed, uint64_t base) override {
    // A fresh pinned buffer and a non_blocking copy: the copy is queued on the compute stream
    // ahead of the graph's launch and the host does not wait (a copy from pageable memory would
    // synchronise on every replay). The pinned pool keeps the buffer from reuse until the copy
    // has read it.
    Tensor staging = empty_pinned({2}, DType::Int64);
    staging.data<int64_t>()[0] = static_cast<int64_t>(seed);
    staging.data<int64_t>()[1] = static_cast<int64_t>(base);
    copy_(tensors_.at(device), staging, /*non_blocking=*/true);
  }

 private:
  std::map<int, Tensor> tensors_;
};

}  // namespace

// The store, and per device the last (seed, base) queued into it. The writes are queued in
// stream order, so once one is queued the memory holds that value for every kernel queued after
// it, whichever graph's replay wrote it: writing the same value again is skipped (the draws of
// one capture all write the same value; see docs/rng.md).
struct RandomGenerator::GraphState {
  struct Written {
    uint64_t seed = 0, base = 0;
  };
  std::unique_ptr<PhiloxStateStore> store = std::make_unique<TensorStateStore>();
  std::map<int, Written> written;
};

RandomGenerator::RandomGenerator(uint64_t seed) : seed_(seed) {}
RandomGenerator::~RandomGenerator() = default;

RandomGenerator::RandomGenerator(const RandomGenerator& other)
    : seed_(other.seed_), offset_(other.offset_), capture_cursor_(other.capture_cursor_) {}

RandomGenerator& RandomGenerator::operator=(const RandomGenerator& other) {
  if (this != &other) {
    seed_ = other.seed_;
    offset_ = other.offset_;
    capture_cursor_ = other.capture_cursor_;
    graph_.reset();
  }
  return *this;
}

void RandomGenerator::set_state(uint64_t seed, uint64_t offset) {
  graph::check_not_capturing("setting a random generator's state");
  seed_ = seed;
  offset_ = offset;
}

PhiloxDraw RandomGenerator::reserve_draw(uint64_t n, Device device) {
  if (!graph::capturing()) return PhiloxDraw{seed_, reserve(n), nullptr};
  if (device.is_cpu()) graph::check_not_capturing("a random draw on the CPU");
  if (device.index != graph::capture_device())
    graph::check_not_capturing("a random draw on a CUDA device other than the capture's");
  if (!graph_) graph_ = std::make_unique<GraphState>();
  const uint64_t* state = graph_->store->state(device.index);
  const uint64_t relative = capture_cursor_;
  capture_cursor_ += n;
  // Each captured draw registers its own action. At a replay that starts at host offset o, the
  // draws of one capture (relative counters c, c + n1, ...) run their actions in order: the
  // k-th sees offset o + (its relative - c) and so writes base = offset - relative = o - c, the
  // same value for all of them, then advances the offset by its own n. The kernels then read
  // counters o + (relative - c) + i: exactly the eager draws, and the offset ends at o + sum n.
  graph::before_each_replay([this, index = device.index, relative, n] {
    write_device_state(index, offset_ - relative);
    offset_ += n;
  });
  return PhiloxDraw{seed_, relative, state};
}

void RandomGenerator::write_device_state(int device, uint64_t base) {
  auto it = graph_->written.find(device);
  if (it != graph_->written.end() && it->second.seed == seed_ && it->second.base == base) return;
  graph_->store->write(device, seed_, base);
  graph_->written[device] = {seed_, base};
}

void RandomGenerator::set_state_store(std::unique_ptr<PhiloxStateStore> store) {
  EMBER_CHECK(!graph_, "RandomGenerator::set_state_store: captured draws already use a store");
  graph_ = std::make_unique<GraphState>();
  graph_->store = std::move(store);
}

RandomGenerator& default_random_generator() {
  // Not thread-safe by design, like the rest of the framework's global state: one training
  // thread draws. A function-local static so its construction order is never an issue.
  static RandomGenerator generator(0);
  return generator;
}

void manual_seed(uint64_t seed) { default_random_generator().set_state(seed, 0); }

}  // namespace ember
