// Device dispatch for reductions: the CPU reference (kernels/cpu/reduce.cpp) or the CUDA
// kernels (kernels/cuda/reduce.cu).
#include "kernels/reduce.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void sum(const Tensor& out, const Tensor& x) { EMBER_DISPATCH_DEVICE(x, "sum", sum, out, x); }
void amax(const Tensor& out, const Tensor& x) { EMBER_DISPATCH_DEVICE(x, "amax", amax, out, x); }
void argmax(const Tensor& out, const Tensor& x, int64_t axis) {
  EMBER_DISPATCH_DEVICE(x, "argmax", argmax, out, x, axis);
}

}  // namespace ember::kernels
