// 2-D convolutions on NHWC activations with KRSC filters.
//
// x: [N, H, W, C]; w: [K, R, S, C / groups]; y: [N, P, Q, K] with
//   P = (H + pad_top + pad_bottom - R) / stride_h + 1,  Q likewise.
// Padding is explicit and may be asymmetric, so TensorFlow/Keras 'same' padding (the extra pixel
// at the bottom/right) is exact: see same_padding(). groups == C == K is depthwise.
//
// The three primitives below are the partial derivatives of one trilinear form
// T(x, w, g) = <g, conv2d(x, w)>, so each one's gradient is expressed with the other two and
// every convolution supports double backward (docs/conv_double_backward.md).
#pragma once
#include "tensor/tensor.h"

namespace ember {

struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int64_t groups = 1;
};

// TensorFlow 'same' padding for a forward convolution of an H x W input: output ceil(H/stride),
// total padding max((P-1)*stride + R - H, 0) with the odd pixel at the bottom/right.
Conv2dParams same_padding(int64_t H, int64_t W, int64_t R, int64_t S, int64_t stride_h,
                          int64_t stride_w, int64_t groups = 1);
// PyTorch-style symmetric padding.
Conv2dParams symmetric_padding(int64_t pad_h, int64_t pad_w, int64_t stride_h, int64_t stride_w,
                               int64_t groups = 1);

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor(),
              const Conv2dParams& params = {});

// The adjoint of conv2d in x: given g [N, P, Q, K] returns dx [N, H, W, C] (input_shape).
Tensor conv2d_input_grad(const Tensor& g, const Tensor& w, const Shape& input_shape,
                         const Conv2dParams& params);
// The adjoint of conv2d in w: given x and g returns dw of weight_shape [K, R, S, C/groups].
Tensor conv2d_weight_grad(const Tensor& x, const Tensor& g, const Shape& weight_shape,
                          const Conv2dParams& params);

// Transposed convolution: x [N, H, W, Cin], w [Cin, R, S, Cout / groups] (the filter of the
// forward convolution it transposes), output [N, OH, OW, Cout] with
//   OH = (H - 1) * stride_h - pad_top - pad_bottom + R + output_padding_h.
// Keras Conv2DTranspose(padding='same'), kernel 4, stride 2: pads 1/1, output 2H.
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor(),
                        const Conv2dParams& params = {}, int64_t output_padding_h = 0,
                        int64_t output_padding_w = 0);

}  // namespace ember
