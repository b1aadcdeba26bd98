// Internal to the CUDA convolution path (no cuDNN here): the helper kernels of
// kernels/cuda/conv_util.cu and ember's own depthwise kernels of kernels/cuda/depthwise_conv.cu,
// called by kernels/cuda/conv.cpp, and test hooks of conv.cpp's plan cache. Every tensor is
// contiguous NHWC / KRSC on one CUDA device, float32 or float64, non-empty (the caller handles
// numel 0), shapes as in kernels/conv.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

#include "kernels/conv.h"
#include "kernels/conv_plan.h"

namespace ember::kernels::cuda {

// dst [N, Hp, Wp, C] = src [N, H, W, C] placed at (off_h, off_w), zeros elsewhere.
void pad_nhwc(const Tensor& dst, const Tensor& src, int64_t off_h, int64_t off_w);
// dst [N, H, W, C] = src [N, Hp, Wp, C] read at (h + off_h, w + off_w); 0 where that lies
// outside src (pixels the padded problem never read get a zero gradient).
void crop_nhwc(const Tensor& dst, const Tensor& src, int64_t off_h, int64_t off_w);
// Layout changes of 4-D tensors (also filters: KRSC is "NHWC" with (K, R, S, C / groups)).
// dst [N, C, H, W] <- src [N, H, W, C], and back.
void nhwc_to_nchw(const Tensor& dst, const Tensor& src);
void nchw_to_nhwc(const Tensor& dst, const Tensor& src);
// y [..., K] += bias [K].
void add_channel_bias(const Tensor& y, const Tensor& bias);

// Depthwise convolution (K == C == groups): any stride, asymmetric padding, float32/float64,
// deterministic. w is [C, R, S, 1]. bias may be undefined.
void depthwise_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias,
                       const Conv2dGeometry& geo);
void depthwise_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w,
                          const Conv2dGeometry& geo);
void depthwise_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy,
                           const Conv2dGeometry& geo);

// Test hooks of the cuDNN plan cache (kernels/cuda/conv.cpp; tests/test_cuda_conv.cpp).
// The number of cached plans (one per problem key seen).
size_t cudnn_plan_cache_size();
// Destroys every cached plan and its descriptors; the next call of each key chooses again.
void clear_cudnn_plan_cache();
// On: new keys skip cuDNN's heuristics and timing, as if neither offered a usable algorithm, so
// the probe-every-algorithm fallback chooses. Not part of the key: clear the cache around it.
void set_cudnn_fallback_only(bool on);
// When set, the run of algorithm `algo` for (direction, layout) fails whenever it returns true,
// as if cuDNN refused to run it (CUDNN_STATUS_NOT_SUPPORTED, nothing launched), so the retry of
// the next candidate and the NCHW fallback can be tested. An empty function turns it off. Not
// part of the key: clear the cache around it.
using CudnnRunFailure = std::function<bool(ConvDirection, CudnnLayout, int algo)>;
void set_cudnn_run_failure(CudnnRunFailure failure);

}  // namespace ember::kernels::cuda
