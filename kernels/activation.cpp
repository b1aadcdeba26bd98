// Device dispatch for the axis-wise activation kernels (softmax, log_softmax): the CPU reference
// (kernels/cpu/activation.cpp) or the CUDA kernels (kernels/cuda/activation.cu).
#include "kernels/activation.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

#ifdef EMBER_WITH_CUDA
#define EMBER_ACTIVATION_DISPATCH(fn, ...) \
  if (x.is_cuda()) {                       \
    EMBER_ON_DEVICE_OF(x);                 \
    cuda::fn(__VA_ARGS__);                 \
    return;                                \
  }                                        \
  cpu::fn(__VA_ARGS__)
#else
#define EMBER_ACTIVATION_DISPATCH(fn, ...) \
  if (x.is_cuda()) no_cuda_kernel(#fn);    \
  cpu::fn(__VA_ARGS__)
#endif

void softmax(const Tensor& out, const Tensor& x, int64_t axis) {
  EMBER_ACTIVATION_DISPATCH(softmax, out, x, axis);
}

void log_softmax(const Tensor& out, const Tensor& x, int64_t axis) {
  EMBER_ACTIVATION_DISPATCH(log_softmax, out, x, axis);
}

#undef EMBER_ACTIVATION_DISPATCH

}  // namespace ember::kernels
