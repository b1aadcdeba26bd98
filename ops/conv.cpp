// Convolution ops: checks, the forward kernel call, and the backward recorded next to it.
// conv2d, conv2d_input_grad and conv2d_weight_grad are the three partial derivatives of the
// trilinear form T(x, w, g) = <g, conv2d(x, w)>, so each backward is written with the other two
// and every op here supports double backward (derivation: docs/conv_double_backward.md).
// Matches PyTorch's conv2d / conv_transpose2d up to layout (NHWC, KRSC) and TensorFlow's 'same'
// padding. Tests: tests/test_conv.cpp (ember_tests --gtest_filter='Conv*').
// Inside a bf16 precision scope (ops/autocast.h) the float32 ones that are not depthwise run
// with kernels' Precision::BFloat16, and each backward runs in the precision its forward ran in
// (docs/mixed_precision.md; tests/test_mixed_precision.cpp).
#include "ops/conv.h"

#include <algorithm>

#include "autograd/function.h"
#include "kernels/conv.h"
#include "ops/autocast.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"

namespace ember {

namespace {

// The kernels read dense row-major data; views (e.g. an expanded gradient) are copied without
// history, since autograd is recorded on the caller's tensors.
Tensor dense(const Tensor& t) {
  if (!t.defined() || t.is_contiguous()) return t;
  return convert(t, t.dtype(), t.device());
}

std::string params_str(const Conv2dParams& p) {
  return detail::concat("stride ", p.stride_h, "x", p.stride_w, ", padding top/bottom/left/right ",
                        p.pad_top, "/", p.pad_bottom, "/", p.pad_left, "/", p.pad_right,
                        ", groups ", p.groups);
}

void check_params(const Conv2dParams& p, const char* op) {
  EMBER_CHECK(p.stride_h >= 1 && p.stride_w >= 1, op, ": strides must be >= 1, got ",
              params_str(p));
  EMBER_CHECK(p.pad_top >= 0 && p.pad_bottom >= 0 && p.pad_left >= 0 && p.pad_right >= 0, op,
              ": padding must be >= 0, got ", params_str(p));
  EMBER_CHECK(p.groups >= 1, op, ": groups must be >= 1, got ", params_str(p));
}

// Validates an input shape [N, H, W, C] and a filter shape [K, R, S, C / groups] against the
// parameters and returns the full geometry, output size included. `x_name` / `w_name` say where
// each shape came from, for the messages.
kernels::Conv2dGeometry make_geometry(const Shape& x_shape, const Shape& w_shape,
                                      const Conv2dParams& p, const char* op, const char* x_name,
                                      const char* w_name) {
  check_params(p, op);
  EMBER_CHECK(x_shape.size() == 4, op, ": ", x_name, " must be 4-D NHWC [N, H, W, C], got ",
              shape_str(x_shape));
  EMBER_CHECK(w_shape.size() == 4, op, ": ", w_name,
              " must be a 4-D KRSC filter [K, R, S, C / groups], got ",
              shape_str(w_shape));
  kernels::Conv2dGeometry g;
  g.N = x_shape[0], g.H = x_shape[1], g.W = x_shape[2], g.C = x_shape[3];
  g.K = w_shape[0], g.R = w_shape[1], g.S = w_shape[2];
  g.stride_h = p.stride_h, g.stride_w = p.stride_w;
  g.pad_top = p.pad_top, g.pad_left = p.pad_left, g.groups = p.groups;
  EMBER_CHECK(g.C % p.groups == 0, op, ": the input channels C = ", g.C, " of ", x_name, " ",
              shape_str(x_shape), " are not divisible by groups = ", p.groups);
  EMBER_CHECK(g.K % p.groups == 0, op, ": the output channels K = ", g.K, " of ", w_name, " ",
              shape_str(w_shape), " are not divisible by groups = ", p.groups);
  EMBER_CHECK(w_shape[3] == g.C / p.groups, op, ": ", w_name, " ", shape_str(w_shape), " has ",
              w_shape[3], " input channels per group, but ", x_name, " ", shape_str(x_shape),
              " with groups = ", p.groups, " needs C / groups = ", g.C / p.groups);
  EMBER_CHECK(g.R >= 1 && g.S >= 1, op, ": empty filter window in ", w_name, " ",
              shape_str(w_shape));
  const int64_t span_h = g.H + p.pad_top + p.pad_bottom - g.R;
  const int64_t span_w = g.W + p.pad_left + p.pad_right - g.S;
  EMBER_CHECK(span_h >= 0 && span_w >= 0, op, ": output size would be <= 0: ", x_name, " ",
              shape_str(x_shape), " with a ", g.R, "x", g.S, " filter and ", params_str(p),
              " (the padded input must be at least as large as the filter)");
  g.P = span_h / p.stride_h + 1;
  g.Q = span_w / p.stride_w + 1;
  return g;
}

// The precision a convolution of this geometry runs in. Depthwise convolutions (K == C ==
// groups) stay float32 in every scope: they do R*S multiply-adds per value read, so they are
// bound by memory traffic, which a bf16 copy of float32 activations would add to rather than
// save (docs/mixed_precision.md).
Precision conv_precision(const kernels::Conv2dGeometry& g, DType dtype) {
  const bool depthwise = g.groups > 1 && g.groups == g.C && g.K == g.C;
  return depthwise ? Precision::Float32 : autocast_precision_for(dtype);
}

Shape output_shape(const kernels::Conv2dGeometry& g) { return {g.N, g.P, g.Q, g.K}; }

// g must have exactly the conv2d output shape of the geometry.
void check_output_grad(const Tensor& g, const kernels::Conv2dGeometry& geo, const char* op) {
  EMBER_CHECK(g.shape() == output_shape(geo), op, ": g must have the conv2d output shape ",
              shape_str(output_shape(geo)), " [N, P, Q, K], got ", g.describe());
}

void check_bias(const Tensor& bias, const Tensor& x, int64_t channels, const char* op) {
  if (!bias.defined()) return;
  check_same_device(x, bias, op);
  check_same_dtype(x, bias, op);
  EMBER_CHECK(bias.shape() == Shape{channels}, op, ": bias must have shape [", channels,
              "] (one value per output channel), got ", bias.describe());
}

}  // namespace

Conv2dParams same_padding(int64_t H, int64_t W, int64_t R, int64_t S, int64_t stride_h,
                          int64_t stride_w, int64_t groups) {
  EMBER_CHECK(H >= 1 && W >= 1 && R >= 1 && S >= 1 && stride_h >= 1 && stride_w >= 1,
              "same_padding: sizes and strides must be >= 1, got input ", H, "x", W, ", filter ",
              R, "x", S, ", stride ", stride_h, "x", stride_w);
  auto total = [](int64_t in, int64_t k, int64_t stride) {
    const int64_t out = (in + stride - 1) / stride;  // ceil(in / stride)
    return std::max<int64_t>((out - 1) * stride + k - in, 0);
  };
  const int64_t th = total(H, R, stride_h), tw = total(W, S, stride_w);
  Conv2dParams p;
  p.stride_h = stride_h, p.stride_w = stride_w, p.groups = groups;
  p.pad_top = th / 2, p.pad_bottom = th - th / 2;  // the odd pixel goes to the bottom / right
  p.pad_left = tw / 2, p.pad_right = tw - tw / 2;
  return p;
}

Conv2dParams symmetric_padding(int64_t pad_h, int64_t pad_w, int64_t stride_h, int64_t stride_w,
                               int64_t groups) {
  Conv2dParams p;
  p.stride_h = stride_h, p.stride_w = stride_w, p.groups = groups;
  p.pad_top = p.pad_bottom = pad_h;
  p.pad_left = p.pad_right = pad_w;
  check_params(p, "symmetric_padding");
  return p;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& params) {
  const char* op = "conv2d";
  check_defined(x, op, "x");
  check_defined(w, op, "w");
  check_same_device(x, w, op);
  check_same_dtype(x, w, op);
  const kernels::Conv2dGeometry geo = make_geometry(x.shape(), w.shape(), params, op, "x", "w");
  check_bias(bias, x, geo.K, op);
  const Precision precision = conv_precision(geo, x.dtype());
  Tensor y = empty(output_shape(geo), {x.dtype(), x.device()});
  kernels::conv2d_forward(y, dense(x), dense(w), dense(bias), geo, precision);
  // dx needs w, dw needs x: save each only when the other one needs its gradient.
  record(op, {x, w, bias}, y,
         [sx = save(w.requires_grad() ? x : Tensor()), sw = save(x.requires_grad() ? w : Tensor()),
          x_shape = x.shape(), w_shape = w.shape(), params,
          precision](const BackwardContext& ctx) {
           const PrecisionScope scope(precision);
           const Tensor& g = ctx.grad();
           return TensorList{
               ctx.needs(0) ? conv2d_input_grad(g, sw.get("conv2d"), x_shape, params) : Tensor(),
               ctx.needs(1) ? conv2d_weight_grad(sx.get("conv2d"), g, w_shape, params) : Tensor(),
               ctx.needs(2) ? sum(g, {0, 1, 2}) : Tensor()};
         });
  return y;
}

Tensor conv2d_input_grad(const Tensor& g, const Tensor& w, const Shape& input_shape,
                         const Conv2dParams& params) {
  const char* op = "conv2d_input_grad";
  check_defined(g, op, "g");
  check_defined(w, op, "w");
  check_same_device(g, w, op);
  check_same_dtype(g, w, op);
  const kernels::Conv2dGeometry geo =
      make_geometry(input_shape, w.shape(), params, op, "input_shape", "w");
  check_output_grad(g, geo, op);
  const Precision precision = conv_precision(geo, g.dtype());
  Tensor dx = empty(input_shape, {g.dtype(), g.device()});
  kernels::conv2d_input_grad(dx, dense(g), dense(w), geo, precision);
  // z = dT/dx (g, w): <gz, z> = T(gz, w, g), so dg = conv2d(gz, w), dw = weight_grad(gz, g).
  record(op, {g, w}, dx,
         [sg = save(w.requires_grad() ? g : Tensor()), sw = save(g.requires_grad() ? w : Tensor()),
          w_shape = w.shape(), params, precision](const BackwardContext& ctx) {
           const PrecisionScope scope(precision);
           const Tensor& gz = ctx.grad();
           return TensorList{
               ctx.needs(0) ? conv2d(gz, sw.get("conv2d_input_grad"), Tensor(), params) : Tensor(),
               ctx.needs(1) ? conv2d_weight_grad(gz, sg.get("conv2d_input_grad"), w_shape, params)
                            : Tensor()};
         });
  return dx;
}

Tensor conv2d_weight_grad(const Tensor& x, const Tensor& g, const Shape& weight_shape,
                          const Conv2dParams& params) {
  const char* op = "conv2d_weight_grad";
  check_defined(x, op, "x");
  check_defined(g, op, "g");
  check_same_device(x, g, op);
  check_same_dtype(x, g, op);
  const kernels::Conv2dGeometry geo =
      make_geometry(x.shape(), weight_shape, params, op, "x", "weight_shape");
  check_output_grad(g, geo, op);
  const Precision precision = conv_precision(geo, x.dtype());
  Tensor dw = empty(weight_shape, {x.dtype(), x.device()});
  kernels::conv2d_weight_grad(dw, dense(x), dense(g), geo, precision);
  // z = dT/dw (x, g): <gz, z> = T(x, gz, g), so dx = input_grad(g, gz), dg = conv2d(x, gz).
  record(op, {x, g}, dw,
         [sx = save(g.requires_grad() ? x : Tensor()), sg = save(x.requires_grad() ? g : Tensor()),
          x_shape = x.shape(), params, precision](const BackwardContext& ctx) {
           const PrecisionScope scope(precision);
           const Tensor& gz = ctx.grad();
           return TensorList{
               ctx.needs(0) ? conv2d_input_grad(sg.get("conv2d_weight_grad"), gz, x_shape, params)
                            : Tensor(),
               ctx.needs(1) ? conv2d(sx.get("conv2d_weight_grad"), gz, Tensor(), params) : Tensor()};
         });
  return dw;
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias,
                        const Conv2dParams& params, int64_t output_padding_h,
                        int64_t output_padding_w) {
  const char* op = "conv_transpose2d";
  check_defined(x, op, "x");
  check_defined(w, op, "w");
  check_same_device(x, w, op);
  check_same_dtype(x, w, op);
  check_params(params, op);
  EMBER_CHECK(x.dim() == 4, op, ": x must be 4-D NHWC [N, H, W, Cin], got ", x.describe());
  EMBER_CHECK(w.dim() == 4, op, ": w must be 4-D [Cin, R, S, Cout / groups], got ", w.describe());
  EMBER_CHECK(output_padding_h >= 0 && output_padding_w >= 0 &&
                  output_padding_h < params.stride_h && output_padding_w < params.stride_w,
              op, ": output_padding (", output_padding_h, ", ", output_padding_w,
              ") must be >= 0 and smaller than the stride (", params.stride_h, ", ",
              params.stride_w, ")");
  const int64_t N = x.size(0), H = x.size(1), W = x.size(2), Cin = x.size(3);
  const int64_t R = w.size(1), S = w.size(2);
  EMBER_CHECK(Cin == w.size(0), op, ": x ", x.describe(), " has ", Cin, " channels but w ",
              w.describe(), " (layout [Cin, R, S, Cout / groups]) is for ", w.size(0));
  EMBER_CHECK(Cin % params.groups == 0, op, ": the input channels Cin = ", Cin,
              " are not divisible by groups = ", params.groups);
  const int64_t Cout = w.size(3) * params.groups;
  const int64_t OH =
      (H - 1) * params.stride_h - params.pad_top - params.pad_bottom + R + output_padding_h;
  const int64_t OW =
      (W - 1) * params.stride_w - params.pad_left - params.pad_right + S + output_padding_w;
  EMBER_CHECK(H >= 1 && W >= 1 && OH >= 1 && OW >= 1, op, ": output size would be <= 0 (", OH,
              "x", OW, ") for x ", x.describe(), " with a ", R, "x", S, " filter and ",
              params_str(params));
  check_bias(bias, x, Cout, op);
  // The transposed convolution is the x-adjoint of the forward convolution it transposes, whose
  // input is this op's output; conv2d_input_grad records the (double-differentiable) backward.
  Tensor y = conv2d_input_grad(x, w, {N, OH, OW, Cout}, params);
  return bias.defined() ? y + bias : y;
}

}  // namespace ember
