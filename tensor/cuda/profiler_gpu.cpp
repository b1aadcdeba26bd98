// The profiler's GPU marks (contract in tensor/profiler_gpu.h): one timing CUDA event per mark,
// recorded on the device's compute stream, so it completes when the work queued before it has.
// At resolve, each event's time is cudaEventElapsedTime against the first event of its device
// (the reference), which is what makes marks comparable: CUDA gives no absolute event times.
// Never called while this thread captures a graph (tensor/profiler.cpp records nothing then).
// Tested by tests/test_cuda_profiler.cpp.
#include <cuda_runtime.h>

#include <vector>

#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"
#include "tensor/cuda/device_guard.h"
#include "tensor/profiler_gpu.h"

namespace ember::profiler::gpu {
namespace {

struct Mark {
  int device;
  cudaEvent_t event;
};
thread_local std::vector<Mark> marks;

void destroy_all() {
  for (const Mark& m : marks) {
    cuda::DeviceGuard guard(m.device);
    cudaEventDestroy(m.event);  // no check: also runs while unwinding
  }
  marks.clear();
}

}  // namespace

int64_t mark(int device) {
  cuda::DeviceGuard guard(device);
  cudaEvent_t event;
  EMBER_CUDA_CHECK(cudaEventCreate(&event));  // timing enabled (not cudaEventDisableTiming)
  EMBER_CUDA_CHECK(cudaEventRecord(event, cuda::compute_stream(device)));
  marks.push_back({device, event});
  return static_cast<int64_t>(marks.size()) - 1;
}

std::vector<MarkTime> resolve() {
  std::vector<MarkTime> times(marks.size());
  std::vector<cudaEvent_t> reference;  // by device: its first mark
  for (size_t i = 0; i < marks.size(); ++i) {
    const Mark& m = marks[i];
    if (static_cast<size_t>(m.device) >= reference.size()) reference.resize(m.device + 1, nullptr);
    if (!reference[m.device]) reference[m.device] = m.event;
    cuda::DeviceGuard guard(m.device);
    EMBER_CUDA_CHECK(cudaEventSynchronize(m.event));
    float ms = 0;
    EMBER_CUDA_CHECK(cudaEventElapsedTime(&ms, reference[m.device], m.event));
    times[i] = {m.device, static_cast<double>(ms) * 1000.0};
  }
  destroy_all();
  return times;
}

void discard() { destroy_all(); }

}  // namespace ember::profiler::gpu
