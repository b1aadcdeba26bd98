// Device dispatch for the axis-wise activation kernels (softmax, log_softmax): the CPU reference
// (kernels/cpu/activation.cpp) or the CUDA kernels (kernels/cuda/activation.cu).
#include "kernels/activation.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void softmax(const Tensor& out, const Tensor& x, int64_t axis) {
  EMBER_DISPATCH_DEVICE(x, "softmax", softmax, out, x, axis);
}

void log_softmax(const Tensor& out, const Tensor& x, int64_t axis) {
  EMBER_DISPATCH_DEVICE(x, "log_softmax", log_softmax, out, x, axis);
}

}  // namespace ember::kernels
