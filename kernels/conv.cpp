// Device dispatch for convolution kernels: the one place that picks the CPU or CUDA version
// (tests/test_cuda_conv.cpp compares them on a GPU machine).
#include "kernels/conv.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias,
                    const Conv2dGeometry& geo, Precision precision) {
  EMBER_DISPATCH_DEVICE(y, "conv2d", conv2d_forward, y, x, w, bias, geo, precision);
}

void conv2d_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w,
                       const Conv2dGeometry& geo, Precision precision) {
  EMBER_DISPATCH_DEVICE(dx, "conv2d_input_grad", conv2d_input_grad, dx, dy, w, geo, precision);
}

void conv2d_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy,
                        const Conv2dGeometry& geo, Precision precision) {
  EMBER_DISPATCH_DEVICE(dw, "conv2d_weight_grad", conv2d_weight_grad, dw, x, dy, geo, precision);
}

}  // namespace ember::kernels
