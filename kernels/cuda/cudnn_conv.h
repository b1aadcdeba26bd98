// The cuDNN half of the CUDA convolution path (kernels/cuda/cudnn_conv.cpp), called by
// kernels/cuda/conv.cpp. No cuDNN types here: only that file includes cudnn.h.
#pragma once
#include "kernels/conv.h"
#include "kernels/conv_plan.h"

namespace ember::kernels::cuda {

// float32 runs in ember's own layouts, NHWC activations and KRSC filters. float64 runs in NCHW /
// KCRS through transposed copies: cuDNN's NHWC support centres on float32/half (PyTorch, too,
// never hands cuDNN channels-last float64), and float64 serves checks, not speed.
inline bool nchw_layout(DType dtype) { return dtype == DType::Float64; }

// Runs one direction of the convolution `geo` through cuDNN with the cached plan of its key
// (chosen on first use). x, w, y point at the operands as cuDNN sees them: in nchw_layout for
// float64, x possibly the zero-padded temporary `pad` describes, all 16-byte aligned; the
// direction says which one is written (Forward: y, InputGrad: x, WeightGrad: w).
void run_cudnn(ConvDirection dir, const Conv2dGeometry& geo, const CudnnPadding& pad, DType dtype,
               int device, void* x, void* w, void* y);

}  // namespace ember::kernels::cuda
