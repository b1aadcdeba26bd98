// Device dispatch for convolution kernels: the one place that picks the CPU or CUDA version
// (tests/test_cuda_conv.cpp compares them on a GPU machine).
#include "kernels/conv.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

// CUDA tensors go to cuda:: in a CUDA build, and to a clear error otherwise.
#ifdef EMBER_WITH_CUDA
#define EMBER_CONV_DISPATCH(t, op, name, ...) \
  if (t.is_cuda()) {                          \
    EMBER_ON_DEVICE_OF(t);                    \
    cuda::name(__VA_ARGS__);                  \
    return;                                   \
  }
#else
#define EMBER_CONV_DISPATCH(t, op, name, ...) \
  if (t.is_cuda()) no_cuda_kernel(op);
#endif

void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias,
                    const Conv2dGeometry& geo) {
  EMBER_CONV_DISPATCH(y, "conv2d", conv2d_forward, y, x, w, bias, geo);
  cpu::conv2d_forward(y, x, w, bias, geo);
}

void conv2d_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w,
                       const Conv2dGeometry& geo) {
  EMBER_CONV_DISPATCH(dx, "conv2d_input_grad", conv2d_input_grad, dx, dy, w, geo);
  cpu::conv2d_input_grad(dx, dy, w, geo);
}

void conv2d_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy,
                        const Conv2dGeometry& geo) {
  EMBER_CONV_DISPATCH(dw, "conv2d_weight_grad", conv2d_weight_grad, dw, x, dy, geo);
  cpu::conv2d_weight_grad(dw, x, dy, geo);
}

#undef EMBER_CONV_DISPATCH

}  // namespace ember::kernels
