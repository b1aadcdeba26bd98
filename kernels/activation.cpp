// Device dispatch for the axis-wise activation kernels (softmax, log_softmax).
#include "kernels/activation.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void softmax(const Tensor& out, const Tensor& x, int64_t axis) {
  if (x.is_cuda()) no_cuda_kernel("softmax");
  cpu::softmax(out, x, axis);
}

void log_softmax(const Tensor& out, const Tensor& x, int64_t axis) {
  if (x.is_cuda()) no_cuda_kernel("log_softmax");
  cpu::log_softmax(out, x, axis);
}

}  // namespace ember::kernels
