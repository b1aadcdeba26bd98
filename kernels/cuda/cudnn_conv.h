// The cuDNN half of the CUDA convolution path (kernels/cuda/cudnn_conv.cpp), called by
// kernels/cuda/conv.cpp. No cuDNN types here: only that file includes cudnn.h.
#pragma once
#include "kernels/conv.h"
#include "kernels/conv_plan.h"

namespace ember::kernels::cuda {

// Runs one direction of the convolution `geo` through cuDNN with the cached plan of its key
// (chosen on first use, by running the candidates until one succeeds). x, w, y point at the
// operands as cuDNN sees them: in `layout` (kernels/conv_plan.h: float64 always NCHW, float32
// NHWC first), x possibly the zero-padded temporary `pad` describes, all 16-byte aligned; the
// direction says which one is written (Forward: y, InputGrad: x, WeightGrad: w). Returns false,
// having written nothing, when no algorithm runs this problem in this layout (then the caller
// tries the next layout); with `last_resort` that is an error naming every attempt instead.
bool run_cudnn(ConvDirection dir, const Conv2dGeometry& geo, const CudnnPadding& pad, DType dtype,
               CudnnLayout layout, int device, void* x, void* w, void* y, bool last_resort);

}  // namespace ember::kernels::cuda
