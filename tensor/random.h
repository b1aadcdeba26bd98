// RandomGenerator: the state of the Philox stream, (seed, offset). Every draw of n numbers reads
// counters [offset, offset + n) and then advances the offset on the host, so drawing
// needs no device synchronisation and replays exactly from a saved state.
#pragma once
#include <cstdint>

namespace ember {

class RandomGenerator {
 public:
  explicit RandomGenerator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed; offset_ = offset; }
  // Reserves counters for n values and returns the first counter of the reservation.
  uint64_t reserve(uint64_t n) {
    const uint64_t start = offset_;
    offset_ += n;
    return start;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

RandomGenerator& default_random_generator();
void manual_seed(uint64_t seed);  // resets the default generator

}  // namespace ember
