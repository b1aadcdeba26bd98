// CPU-only build: the GPU entry points of tensor/ exist and say why they cannot run.
#ifndef EMBER_WITH_CUDA
#include "tensor/cuda_hooks.h"
#include "tensor/error.h"
#include "tensor/tensor.h"

namespace ember::cuda_hooks {
void copy_same_device(const Tensor& dst, const Tensor&) {
  EMBER_FAIL("copy on ", dst.device().str(), ": this build has no CUDA backend");
}
void fill(const Tensor& dst, double) {
  EMBER_FAIL("fill on ", dst.device().str(), ": this build has no CUDA backend");
}
// No pinned memory exists without CUDA, so nothing is ever queued on it.
void wait_for_pinned(const void*) {}
}  // namespace ember::cuda_hooks
#endif
