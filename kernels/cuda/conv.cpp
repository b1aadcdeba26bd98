// CUDA 2-D convolutions (contract: kernels/conv.h; reference: kernels/cpu/conv.cpp): ember's
// own kernels for depthwise problems (K == C == groups) when backend_settings().depthwise_impl
// is Ember (kernels/cuda/depthwise_conv.cu), cuDNN for everything else
// (kernels/cuda/cudnn_conv.cpp: plan cache, workspace, the cuDNN calls). This file decides what
// cuDNN sees: the legacy API takes one symmetric pad per dimension, so asymmetric geometries go
// through a zero-padded temporary (cudnn_padding); float64 goes through NCHW / KCRS copies, and
// so does a float32 problem no algorithm runs in NHWC; an operand that is not 16-byte aligned
// through an aligned copy. Policy and reasons:
// docs/cudnn.md. Tested against the CPU in tests/test_cuda_conv.cpp.
// Precision::BFloat16 (kernels/precision.h, docs/mixed_precision.md): the float32 operands are
// rounded into bf16 copies (tensor/cuda/copy.cu, bit for bit the CPU's rounding), cuDNN runs its
// bf16 configuration (bf16 tensors, float32 compute, tensor cores; NHWC only) into a bf16
// result that is widened into the float32 output. Ember's depthwise kernels read float32: they
// get rounded float32 copies and their result is rounded (the ops never ask for this, since
// depthwise convolutions stay float32, but the contract holds for every geometry). Tested
// against the CPU reference in tests/test_mixed_precision.cpp (CudaMixedPrecision.*).
#include <cstdint>

#include "kernels/backend_settings.h"
#include "kernels/conv.h"
#include "kernels/conv_plan.h"
#include "kernels/cuda/conv_cuda.h"
#include "kernels/cuda/cudnn_conv.h"
#include "tensor/cuda/copy.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {


void zero_fill(const Tensor& t) {
  EMBER_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, t.numel() * dtype_size(t.dtype()),
                                   ::ember::cuda::compute_stream()));
}

bool use_ember_depthwise(const Conv2dGeometry& geo) {
  return is_depthwise(geo) && backend_settings().depthwise_impl == DepthwiseImpl::Ember;
}

// x as cuDNN sees it: x itself, or a zero-padded copy when the padding is asymmetric.
Tensor padded_input(const Tensor& x, const Conv2dGeometry& geo, const CudnnPadding& pad) {
  if (!pad.needs_temporary()) return x;
  Tensor xp = empty({geo.N, pad.Hp, pad.Wp, geo.C}, {x.dtype(), x.device()});
  pad_nhwc(xp, x, pad.off_h, pad.off_w);
  return xp;
}

// cuDNN's vectorised kernels (and Hopper's TMA loads) assume 16-byte aligned operands, while a
// contiguous view may start at any element: such tensors go through an aligned copy.
bool aligned16(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw_data()) % 16 == 0; }

void copy_bytes(const Tensor& dst, const Tensor& src) {
  EMBER_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(),
                                   src.numel() * dtype_size(src.dtype()),
                                   cudaMemcpyDeviceToDevice, ::ember::cuda::compute_stream()));
}

// A 4-D NHWC (or KRSC) input in cuDNN's `layout`, 16-byte aligned: itself, an NCHW copy, or an
// aligned copy.
Tensor to_cudnn_layout(const Tensor& t, CudnnLayout layout) {
  if (layout == CudnnLayout::Nchw) {
    Tensor d = empty({t.size(0), t.size(3), t.size(1), t.size(2)}, {t.dtype(), t.device()});
    nhwc_to_nchw(d, t);
    return d;
  }
  if (aligned16(t)) return t;
  Tensor d = empty(t.shape(), {t.dtype(), t.device()});
  copy_bytes(d, t);
  return d;
}

// Where cuDNN writes a result meant for `t` (NHWC / KRSC): t itself, or a temporary (NCHW, or
// aligned) that from_cudnn_layout copies back.
Tensor cudnn_output_for(const Tensor& t, CudnnLayout layout) {
  if (layout == CudnnLayout::Nchw)
    return empty({t.size(0), t.size(3), t.size(1), t.size(2)}, {t.dtype(), t.device()});
  return aligned16(t) ? t : empty(t.shape(), {t.dtype(), t.device()});
}

void from_cudnn_layout(const Tensor& t, const Tensor& written, CudnnLayout layout) {
  if (written.same(t)) return;
  if (layout == CudnnLayout::Nchw) nchw_to_nhwc(t, written);
  else copy_bytes(t, written);
}

// Runs `attempt(layout)` in the dtype's preferred layout and, for float32 when no cuDNN
// algorithm runs the NHWC problem, again through NCHW copies (the last resort, whose failure is
// an error naming every attempt).
template <typename Attempt>
void in_a_layout_that_runs(DType dtype, const Attempt& attempt) {
  const CudnnLayout preferred = preferred_cudnn_layout(dtype);
  const bool only = preferred == CudnnLayout::Nchw;
  if (attempt(preferred, only) || only) return;
  attempt(CudnnLayout::Nchw, true);
}

// The bf16 precision applies to float32 problems only (float64 ignores it).
bool bf16_problem(const Tensor& out, Precision precision) {
  return precision == Precision::BFloat16 && out.dtype() == DType::Float32;
}

// A bf16 copy of a float32 tensor: round to nearest even (tensor/cuda/copy.cu).
Tensor to_bf16(const Tensor& t) {
  Tensor b = empty(t.shape(), {DType::BFloat16, t.device()});
  ::ember::cuda::copy_tensor(b, t);
  return b;
}

// A float32 copy of t with its values rounded to bf16.
Tensor rounded(const Tensor& t) {
  Tensor f = empty(t.shape(), {DType::Float32, t.device()});
  ::ember::cuda::copy_tensor(f, to_bf16(t));
  return f;
}

// cuDNN's bf16 configuration on bf16 operands (x, w, y as run_cudnn names them; the direction's
// output is the one written), NHWC only: no other layout is tried.
void run_cudnn_bf16(ConvDirection dir, const Conv2dGeometry& geo, const CudnnPadding& pad,
                    const Tensor& x, const Tensor& w, const Tensor& y) {
  run_cudnn(dir, geo, pad, DType::BFloat16, CudnnLayout::Nhwc, y.device().index, x.raw_data(),
            w.raw_data(), y.raw_data(), /*last_resort=*/true);
}

void forward_bf16(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias,
                  const Conv2dGeometry& geo) {
  if (use_ember_depthwise(geo)) {
    depthwise_forward(y, rounded(x), rounded(w), Tensor(), geo);
    ::ember::cuda::copy_tensor(y, to_bf16(y));
  } else {
    const CudnnPadding pad = cudnn_padding(geo);
    const Tensor xb = to_bf16(padded_input(x, geo, pad));  // padding is exact in float32
    const Tensor yb = empty(y.shape(), {DType::BFloat16, y.device()});
    run_cudnn_bf16(ConvDirection::Forward, geo, pad, xb, to_bf16(w), yb);
    ::ember::cuda::copy_tensor(y, yb);
  }
  if (bias.defined()) add_channel_bias(y, bias);  // float32, after the rounding
}

void input_grad_bf16(const Tensor& dx, const Tensor& dy, const Tensor& w,
                     const Conv2dGeometry& geo) {
  if (use_ember_depthwise(geo)) {
    depthwise_input_grad(dx, rounded(dy), rounded(w), geo);
    ::ember::cuda::copy_tensor(dx, to_bf16(dx));
    return;
  }
  const CudnnPadding pad = cudnn_padding(geo);
  const Shape target_shape =
      pad.needs_temporary() ? Shape{geo.N, pad.Hp, pad.Wp, geo.C} : dx.shape();
  const Tensor target = empty(target_shape, {DType::BFloat16, dx.device()});
  run_cudnn_bf16(ConvDirection::InputGrad, geo, pad, target, to_bf16(w), to_bf16(dy));
  if (!pad.needs_temporary()) {
    ::ember::cuda::copy_tensor(dx, target);
    return;
  }
  const Tensor wide = empty(target_shape, {DType::Float32, dx.device()});
  ::ember::cuda::copy_tensor(wide, target);
  crop_nhwc(dx, wide, pad.off_h, pad.off_w);
}

void weight_grad_bf16(const Tensor& dw, const Tensor& x, const Tensor& dy,
                      const Conv2dGeometry& geo) {
  if (use_ember_depthwise(geo)) {
    depthwise_weight_grad(dw, rounded(x), rounded(dy), geo);
    ::ember::cuda::copy_tensor(dw, to_bf16(dw));
    return;
  }
  const CudnnPadding pad = cudnn_padding(geo);
  const Tensor xb = to_bf16(padded_input(x, geo, pad));
  const Tensor dwb = empty(dw.shape(), {DType::BFloat16, dw.device()});
  run_cudnn_bf16(ConvDirection::WeightGrad, geo, pad, xb, dwb, to_bf16(dy));
  ::ember::cuda::copy_tensor(dw, dwb);
}

}  // namespace

void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias,
                    const Conv2dGeometry& geo, Precision precision) {
  if (y.numel() == 0) return;
  if (x.numel() == 0 || w.numel() == 0) {  // an empty sum (e.g. C == 0, or H == 0 with padding)
    zero_fill(y);
    if (bias.defined()) add_channel_bias(y, bias);
    return;
  }
  if (bf16_problem(y, precision)) {
    forward_bf16(y, x, w, bias, geo);
    return;
  }
  if (use_ember_depthwise(geo)) {
    depthwise_forward(y, x, w, bias, geo);
    return;
  }
  const CudnnPadding pad = cudnn_padding(geo);
  const Tensor xp = padded_input(x, geo, pad);
  in_a_layout_that_runs(y.dtype(), [&](CudnnLayout layout, bool last_resort) {
    const Tensor xc = to_cudnn_layout(xp, layout);
    const Tensor wc = to_cudnn_layout(w, layout);
    const Tensor yc = cudnn_output_for(y, layout);
    if (!run_cudnn(ConvDirection::Forward, geo, pad, y.dtype(), layout, y.device().index,
                   xc.raw_data(), wc.raw_data(), yc.raw_data(), last_resort))
      return false;
    from_cudnn_layout(y, yc, layout);
    return true;
  });
  if (bias.defined()) add_channel_bias(y, bias);
}

void conv2d_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w,
                       const Conv2dGeometry& geo, Precision precision) {
  if (dx.numel() == 0) return;
  if (dy.numel() == 0 || w.numel() == 0) {  // K == 0: nothing reads x
    zero_fill(dx);
    return;
  }
  if (bf16_problem(dx, precision)) {
    input_grad_bf16(dx, dy, w, geo);
    return;
  }
  if (use_ember_depthwise(geo)) {
    depthwise_input_grad(dx, dy, w, geo);
    return;
  }
  const CudnnPadding pad = cudnn_padding(geo);
  // With asymmetric padding cuDNN computes the gradient of the padded input; x's is a slice.
  const Tensor target = pad.needs_temporary()
                            ? empty({geo.N, pad.Hp, pad.Wp, geo.C}, {dx.dtype(), dx.device()})
                            : dx;
  in_a_layout_that_runs(dx.dtype(), [&](CudnnLayout layout, bool last_resort) {
    const Tensor tc = cudnn_output_for(target, layout);
    const Tensor dyc = to_cudnn_layout(dy, layout);
    const Tensor wc = to_cudnn_layout(w, layout);
    if (!run_cudnn(ConvDirection::InputGrad, geo, pad, dx.dtype(), layout, dx.device().index,
                   tc.raw_data(), wc.raw_data(), dyc.raw_data(), last_resort))
      return false;
    from_cudnn_layout(target, tc, layout);
    return true;
  });
  if (pad.needs_temporary()) crop_nhwc(dx, target, pad.off_h, pad.off_w);
}

void conv2d_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy,
                        const Conv2dGeometry& geo, Precision precision) {
  if (dw.numel() == 0) return;
  if (x.numel() == 0 || dy.numel() == 0) {  // an empty sum over the batch or the pixels
    zero_fill(dw);
    return;
  }
  if (bf16_problem(dw, precision)) {
    weight_grad_bf16(dw, x, dy, geo);
    return;
  }
  if (use_ember_depthwise(geo)) {
    depthwise_weight_grad(dw, x, dy, geo);
    return;
  }
  const CudnnPadding pad = cudnn_padding(geo);
  const Tensor xp = padded_input(x, geo, pad);
  in_a_layout_that_runs(dw.dtype(), [&](CudnnLayout layout, bool last_resort) {
    const Tensor xc = to_cudnn_layout(xp, layout);
    const Tensor dyc = to_cudnn_layout(dy, layout);
    const Tensor dwc = cudnn_output_for(dw, layout);
    if (!run_cudnn(ConvDirection::WeightGrad, geo, pad, dw.dtype(), layout, dw.device().index,
                   xc.raw_data(), dwc.raw_data(), dyc.raw_data(), last_resort))
      return false;
    from_cudnn_layout(dw, dwc, layout);
    return true;
  });
}

}  // namespace ember::kernels::cuda
