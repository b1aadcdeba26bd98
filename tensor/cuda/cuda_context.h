// The CUDA execution context: one compute stream per device on which every kernel, copy and
// library call for that device is issued, so a whole training step can later be captured in a
// CUDA graph, and the caching allocator may hand a freed block out again at once (work queued
// after the free on the same stream runs after the work queued before it: docs/memory.md).
#pragma once
#include <cuda_runtime.h>

#include "tensor/cuda/device_guard.h"

namespace ember::cuda {

// The compute stream of the current device (cudaGetDevice), or of device `device`; created on
// first use, non-blocking with respect to stream 0, never destroyed.
cudaStream_t compute_stream();
cudaStream_t compute_stream(int device);
void synchronize();  // waits for the current device's compute stream

// Launch geometry for a grid-stride loop over n elements.
inline unsigned grid_for(long long n, int threads = 256) {
  long long blocks = (n + threads - 1) / threads;
  if (blocks > 65535LL * 16) blocks = 65535LL * 16;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

}  // namespace ember::cuda
