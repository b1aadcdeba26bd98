// The process-wide default RandomGenerator (tensor/random.h). Its state is plain (seed, offset) on the
// host, shared by CPU and GPU draws; save it with seed()/offset() and replay with set_state().
// Tested in tests/test_random.cpp; the scheme is described in docs/rng.md.
#include "tensor/random.h"

namespace ember {

RandomGenerator& default_random_generator() {
  // Not thread-safe by design, like the rest of the framework's global state: one training
  // thread draws. A function-local static so its construction order is never an issue.
  static RandomGenerator generator(0);
  return generator;
}

void manual_seed(uint64_t seed) { default_random_generator().set_state(seed, 0); }

}  // namespace ember
