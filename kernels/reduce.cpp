// Device dispatch for reductions.
#include "kernels/reduce.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void sum(const Tensor& out, const Tensor& x) {
  if (x.is_cuda()) no_cuda_kernel("sum");
  cpu::sum(out, x);
}
void amax(const Tensor& out, const Tensor& x) {
  if (x.is_cuda()) no_cuda_kernel("amax");
  cpu::amax(out, x);
}
void argmax(const Tensor& out, const Tensor& x, int64_t axis) {
  if (x.is_cuda()) no_cuda_kernel("argmax");
  cpu::argmax(out, x, axis);
}

}  // namespace ember::kernels
