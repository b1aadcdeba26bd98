// The CUDA build's same-device copy and fill hooks (tensor/cuda_hooks.h): the kernels are in
// tensor/cuda/copy.cu; wait_for_pinned is with the pinned allocator (cuda_allocator.cpp).
#include "tensor/cuda_hooks.h"

#include "tensor/cuda/copy.h"

namespace ember::cuda_hooks {

void copy_same_device(const Tensor& dst, const Tensor& src) { cuda::copy_tensor(dst, src); }

void fill(const Tensor& dst, double value) { cuda::fill_tensor(dst, value); }

}  // namespace ember::cuda_hooks
