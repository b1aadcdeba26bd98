// The few GPU entry points that tensor/ itself needs (fills and same-device copies), declared
// for both builds. In a CPU-only build they throw a clear error; with CUDA they live in
// tensor/cuda/.
#pragma once

namespace ember {
class Tensor;
namespace cuda_hooks {
void copy_same_device(const Tensor& dst, const Tensor& src);
void fill(const Tensor& dst, double value);
// Waits until no queued asynchronous copy reads or writes the pinned block holding ptr.
void wait_for_pinned(const void* ptr);
}  // namespace cuda_hooks
}  // namespace ember
