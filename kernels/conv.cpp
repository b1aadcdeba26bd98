// Device dispatch for convolution kernels.
#include "kernels/conv.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias,
                    const Conv2dGeometry& geo) {
  if (y.is_cuda()) no_cuda_kernel("conv2d");
  cpu::conv2d_forward(y, x, w, bias, geo);
}

void conv2d_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w,
                       const Conv2dGeometry& geo) {
  if (dx.is_cuda()) no_cuda_kernel("conv2d_input_grad");
  cpu::conv2d_input_grad(dx, dy, w, geo);
}

void conv2d_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy,
                        const Conv2dGeometry& geo) {
  if (dw.is_cuda()) no_cuda_kernel("conv2d_weight_grad");
  cpu::conv2d_weight_grad(dw, x, dy, geo);
}

}  // namespace ember::kernels
