// The numbered variants of ember's depthwise convolution kernels (kernels/cuda/dev/
// depthwise_conv_variants.cu: what each one changes, and which one production runs). Same
// contract as kernels/cuda/conv_cuda.h's depthwise_*: contiguous NHWC tensors on one device,
// K == C == groups, w [C, R, S, 1], float32/float64, any stride, asymmetric padding, non-empty.
// Used only by bench/bench_depthwise_variants_cuda.cpp and the emulator's `depthwise_variants`
// family (tools/emulate_cuda/check_depthwise_variants.cpp); not part of libember.
#pragma once
#include "kernels/conv.h"

namespace ember::kernels::cuda::dev {

inline constexpr int kDepthwiseVariants = 3;           // variants 1 .. kDepthwiseVariants
inline constexpr int kDepthwiseProductionVariant = 2;  // what kernels/cuda/depthwise_conv.cu runs

// One line: what the variant does ("scalar", "16-byte vectors", ...).
const char* depthwise_variant_summary(int variant);

void depthwise_forward_variant(int variant, const Tensor& y, const Tensor& x, const Tensor& w,
                               const Tensor& bias, const Conv2dGeometry& geo);
void depthwise_input_grad_variant(int variant, const Tensor& dx, const Tensor& dy,
                                  const Tensor& w, const Conv2dGeometry& geo);
// Every variant so far shares one weight-gradient kernel pair (the tuning changed forward and
// input grad only); the variant number is accepted for symmetry and checked.
void depthwise_weight_grad_variant(int variant, const Tensor& dw, const Tensor& x,
                                   const Tensor& dy, const Conv2dGeometry& geo);

}  // namespace ember::kernels::cuda::dev
