// The profiler's GPU marks (tensor/profiler.h), declared for both builds: timing events recorded
// on a device's compute stream and read back, once the session stops, as times on one axis per
// device. The CUDA side is tensor/cuda/profiler_gpu.cpp; in a CPU-only build no GPU op can run,
// so no mark is ever asked for (tensor/profiler_gpu_cpu_only.cpp fails if one is).
#pragma once
#include <cstdint>
#include <vector>

namespace ember::profiler::gpu {

// Records a timing event on cuda:<device>'s compute stream; returns its number among this
// thread's marks (0, 1, 2, ...). The first mark on a device is that device's reference.
int64_t mark(int device);

struct MarkTime {
  int device = -1;
  double us = 0;  // microseconds after the first mark on the same device
};
// Waits for this thread's marks to complete, returns their times in mark order and frees them.
std::vector<MarkTime> resolve();
// Frees this thread's marks without reading them (a session dropped without stop()).
void discard();

}  // namespace ember::profiler::gpu
