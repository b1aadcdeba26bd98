// Device dispatch for reductions: the CPU reference (kernels/cpu/reduce.cpp) or the CUDA
// kernels (kernels/cuda/reduce.cu).
#include "kernels/reduce.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

#ifdef EMBER_WITH_CUDA
#define EMBER_REDUCE_DISPATCH(fn, ...) \
  if (x.is_cuda()) {                   \
    EMBER_ON_DEVICE_OF(x);             \
    cuda::fn(__VA_ARGS__);             \
    return;                            \
  }                                    \
  cpu::fn(__VA_ARGS__)
#else
#define EMBER_REDUCE_DISPATCH(fn, ...) \
  if (x.is_cuda()) no_cuda_kernel(#fn); \
  cpu::fn(__VA_ARGS__)
#endif

void sum(const Tensor& out, const Tensor& x) { EMBER_REDUCE_DISPATCH(sum, out, x); }
void amax(const Tensor& out, const Tensor& x) { EMBER_REDUCE_DISPATCH(amax, out, x); }
void argmax(const Tensor& out, const Tensor& x, int64_t axis) {
  EMBER_REDUCE_DISPATCH(argmax, out, x, axis);
}

#undef EMBER_REDUCE_DISPATCH

}  // namespace ember::kernels
