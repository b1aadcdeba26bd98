// CPU-only build: no op runs on a GPU, so the profiler asks for no GPU mark (tensor/profiler_gpu.h).
#ifndef EMBER_WITH_CUDA
#include "tensor/error.h"
#include "tensor/profiler_gpu.h"

namespace ember::profiler::gpu {
int64_t mark(int device) {
  EMBER_FAIL("profiler: a GPU mark on cuda:", device, ": this build has no CUDA backend");
}
std::vector<MarkTime> resolve() { return {}; }
void discard() {}
}  // namespace ember::profiler::gpu
#endif
