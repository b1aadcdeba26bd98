// The CUDA execution context: one compute stream per process on which every kernel, copy and
// library call is issued, so a whole training step can later be captured in a CUDA graph.
#pragma once
#include <cuda_runtime.h>

namespace ember::cuda {

cudaStream_t compute_stream();  // created on first use, non-blocking with respect to stream 0
void synchronize();             // waits for the compute stream

// Launch geometry for a grid-stride loop over n elements.
inline unsigned grid_for(long long n, int threads = 256) {
  long long blocks = (n + threads - 1) / threads;
  if (blocks > 65535LL * 16) blocks = 65535LL * 16;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

}  // namespace ember::cuda
