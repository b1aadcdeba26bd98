// Contract for 2-D convolution kernels (CPU: kernels/cpu/conv.cpp; CUDA: kernels/cuda/conv.cpp,
// cuDNN plus ember's depthwise kernels, policy in docs/cudnn.md; GPU tests in
// tests/test_cuda_conv.cpp).
// The math they compute is conv2d of ops/conv.h, and they are tested through it in
// tests/test_conv.cpp against a naive 7-loop reference.
//
// Layouts: x [N, H, W, C] (NHWC), w [K, R, S, C / groups] (KRSC), y [N, P, Q, K]. Output pixel
// (p, q) reads input rows h = p * stride_h - pad_top + r, columns w = q * stride_w - pad_left + s;
// positions outside [0, H) x [0, W) are zero padding. pad_bottom / pad_right only decide P and Q,
// which the caller has already computed and validated, so the geometry below does not carry them.
//
// Every tensor passed here is contiguous, float32 or float64 (all the same dtype), on one device,
// with exactly the shapes the geometry implies. `precision` (kernels/precision.h) applies to
// float32 problems: BFloat16 rounds the two operands to bfloat16, sums in float32 and rounds the
// result (before the bias is added) to bfloat16; float64 ignores it. Outputs are preallocated
// and fully overwritten (dx and dw are not accumulated into). Results are deterministic: no
// reduction order depends on the thread count.
#pragma once
#include <cstdint>

#include "kernels/precision.h"
#include "tensor/tensor.h"

namespace ember::kernels {

struct Conv2dGeometry {
  int64_t N = 0, H = 0, W = 0, C = 0;  // input
  int64_t K = 0, R = 0, S = 0;         // filter: K output channels, R x S window
  int64_t P = 0, Q = 0;                // output rows, columns
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0;
  int64_t groups = 1;
  int64_t c_per_group() const { return C / groups; }
  int64_t k_per_group() const { return K / groups; }
};

// y = conv2d(x, w) (+ bias [K] broadcast over N, P, Q when bias is defined).
void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias,
                    const Conv2dGeometry& geo, Precision precision = Precision::Float32);
// dx [N, H, W, C] = the adjoint of conv2d in x applied to dy [N, P, Q, K].
void conv2d_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w,
                       const Conv2dGeometry& geo, Precision precision = Precision::Float32);
// dw [K, R, S, C / groups] = the adjoint of conv2d in w applied to dy, given x.
void conv2d_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy,
                        const Conv2dGeometry& geo, Precision precision = Precision::Float32);

namespace cpu {
void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias,
                    const Conv2dGeometry& geo, Precision precision = Precision::Float32);
void conv2d_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w,
                       const Conv2dGeometry& geo, Precision precision = Precision::Float32);
void conv2d_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy,
                        const Conv2dGeometry& geo, Precision precision = Precision::Float32);
}  // namespace cpu

#ifdef EMBER_WITH_CUDA
namespace cuda {  // kernels/cuda/conv.cpp
void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias,
                    const Conv2dGeometry& geo, Precision precision = Precision::Float32);
void conv2d_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w,
                       const Conv2dGeometry& geo, Precision precision = Precision::Float32);
void conv2d_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy,
                        const Conv2dGeometry& geo, Precision precision = Precision::Float32);
}  // namespace cuda
#endif

}  // namespace ember::kernels
