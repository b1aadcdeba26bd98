// The kernel-level geometry of one EfficientNet convolution, for benchmarks that call the conv
// kernels directly (bench_conv_cuda). Kept here, not in models/, so the model table does not
// depend on kernels/.
#pragma once
#include "kernels/conv.h"
#include "models/efficientnet_config.h"

namespace ember::bench {

inline kernels::Conv2dGeometry conv_geometry(const models::EfficientNetConv& conv) {
  kernels::Conv2dGeometry g;
  g.N = conv.N, g.H = conv.H, g.W = conv.W, g.C = conv.C;
  g.K = conv.K, g.R = conv.R, g.S = conv.S;
  g.P = conv.P, g.Q = conv.Q;
  g.stride_h = conv.params.stride_h, g.stride_w = conv.params.stride_w;
  g.pad_top = conv.params.pad_top, g.pad_left = conv.params.pad_left;
  g.groups = conv.params.groups;
  return g;
}

}  // namespace ember::bench
