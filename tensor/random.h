// RandomGenerator: the state of the Philox stream, (seed, offset). Every draw of n numbers reads
// counters [offset, offset + n) and then advances the offset on the host, so drawing
// needs no device synchronisation and replays exactly from a saved state.
// Inside a CUDA graph capture (tensor/graph_capture.h) a draw on the capture's device reads its
// seed and counter base from device memory instead, written before each replay, so every replay
// draws fresh numbers: see reserve_draw and docs/rng.md ("Draws inside a CUDA graph").
#pragma once
#include <cstdint>
#include <memory>

#include "tensor/device.h"

namespace ember {

// Where a draw's Philox (seed, first counter) come from; the kernels of kernels/random.h take it.
// device_state == nullptr: element i uses counter first_counter + i with key seed (an eager
// draw). device_state set (CUDA kernels only; uint64 [2] in the output's device memory): the
// kernel reads seed = device_state[0] and uses device_state[1] + first_counter + i, so
// first_counter is relative to a base written before each graph replay. Both give the same
// values as an eager draw with (seed, base + first_counter).
struct PhiloxDraw {
  uint64_t seed = 0;
  uint64_t first_counter = 0;
  const uint64_t* device_state = nullptr;
};

// Where a generator keeps the {seed, base} its captured draws read: the default holds a uint64
// [2] tensor per CUDA device, written before each replay by a non_blocking copy from pinned
// memory. Tests without a GPU install a fake that keeps the two values in host memory.
class PhiloxStateStore {
 public:
  virtual ~PhiloxStateStore() = default;
  // The device address of uint64 [2] on cuda:<device>, the same on every call; allocated at the
  // first call (possibly while capturing: no kernel may run for it).
  virtual const uint64_t* state(int device) = 0;
  // Queues {seed, base} into that memory on the device's compute stream, ahead of later work.
  virtual void write(int device, uint64_t seed, uint64_t base) = 0;
};

class RandomGenerator {
 public:
  explicit RandomGenerator(uint64_t seed = 0);
  ~RandomGenerator();
  // A copy has the same (seed, offset) and none of the original's graph state: graphs that drew
  // from the original keep replaying the original.
  RandomGenerator(const RandomGenerator& other);
  RandomGenerator& operator=(const RandomGenerator& other);

  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  // Throws while this thread captures a CUDA graph (a replay would not repeat it).
  void set_state(uint64_t seed, uint64_t offset);
  // Reserves counters for n values and returns the first counter of the reservation (an eager
  // draw; reserve_draw is what the ops call).
  uint64_t reserve(uint64_t n) {
    const uint64_t start = offset_;
    offset_ += n;
    return start;
  }
  // The Philox source of a draw of n values on `device`. Not capturing: {seed, reserve(n)}.
  // While this thread captures a CUDA graph on `device`: a counter relative to the device state,
  // which each replay writes first, and the host offset does not move until a replay does it
  // (docs/rng.md). A CPU draw (or one on another device) while capturing throws.
  PhiloxDraw reserve_draw(uint64_t n, Device device);

  // For tests: replaces where captured draws keep their device state (before the first one).
  void set_state_store(std::unique_ptr<PhiloxStateStore> store);

 private:
  struct GraphState;  // the state store and what was last written to it, per device
  void write_device_state(int device, uint64_t base);

  uint64_t seed_;
  uint64_t offset_ = 0;
  // Relative counters handed to captured draws; never reset (any value works, see docs/rng.md).
  uint64_t capture_cursor_ = 0;
  std::unique_ptr<GraphState> graph_;
};

RandomGenerator& default_random_generator();
void manual_seed(uint64_t seed);  // resets the default generator

}  // namespace ember
