// Emulator stand-in for tensor/cuda/cuda_context.h (tools/emulate_cuda/): one null stream, and
// grid_for as in the real header but capped at EMU_GRID_CAP blocks (environment, or
// emu::state().grid_cap) so that grid-stride loops wrap on small test shapes.
#pragma once
#include <cuda_runtime.h>

namespace ember::cuda {

inline cudaStream_t compute_stream() { return nullptr; }
inline cudaStream_t compute_stream(int) { return nullptr; }

// One device: nothing to switch (the real one is tensor/cuda/device_guard.h).
class DeviceGuard {
 public:
  explicit DeviceGuard(int) {}
};
inline void synchronize() {}

inline unsigned grid_for(long long n, int threads = 256) {
  long long blocks = (n + threads - 1) / threads;
  if (blocks > 65535LL * 16) blocks = 65535LL * 16;
  const unsigned cap = ::emu::state().grid_cap;
  if (cap > 0 && blocks > cap) blocks = cap;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

}  // namespace ember::cuda
