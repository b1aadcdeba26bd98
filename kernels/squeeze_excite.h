// Contract for the fused squeeze-and-excite block (CPU: kernels/cpu/squeeze_excite.cpp; CUDA:
// kernels/cuda/squeeze_excite.cu), EfficientNet's per-sample channel gate:
//   pooled[n, c] = mean_p h[n, p, c]                         (p runs over the P = H*W positions)
//   z1[n, j]     = b1[j] + sum_c w1[j, c] * pooled[n, c]      (the 1x1 "reduce" conv, R outputs)
//   a1           = silu(z1)
//   z2[n, c]     = b2[c] + sum_j w2[c, j] * a1[n, j]          (the 1x1 "expand" conv)
//   gate         = sigmoid(z2)
//   y[n, p, c]   = h[n, p, c] * gate[n, c]
// Forward is one kernel; the backward is two: the input gradient (with the per-sample gradients of
// z1 and z2 it needs anyway), then the weights' gradients, sums over the batch. The derivation is
// in docs/squeeze_excite.md.
//
// Shapes: h, y, dy, dh [N, P, C]; pooled, gate, dz2 [N, C]; z1, dz1 [N, R]; w1, dw1 [R, C];
// b1, db1 [R]; w2, dw2 [C, R]; b2, db2 [C]: every tensor contiguous, one dtype (float32 or
// float64), one device, outputs preallocated. Sums over positions and over the batch accumulate
// in double in a fixed order on both devices, so results do not depend on the thread count;
// elementwise steps (the gate's product, dh) round once to the tensor's dtype.
// Tested through ops::squeeze_excite in tests/test_squeeze_excite.cpp.
#pragma once
#include "tensor/tensor.h"

namespace ember::kernels {

// Writes y, and pooled, z1 and gate for the backward.
void squeeze_excite_forward(const Tensor& y, const Tensor& pooled, const Tensor& z1,
                            const Tensor& gate, const Tensor& h, const Tensor& w1,
                            const Tensor& b1, const Tensor& w2, const Tensor& b2);
// dh = dy * gate + (sum_j w1[j, c] * dz1[n, j]) / P, with
//   dz2[n, c] = (sum_p dy * h) * gate * (1 - gate),
//   dz1[n, j] = (sum_c w2[c, j] * dz2[n, c]) * silu'(z1[n, j]).
// Writes dh, dz2 and dz1.
void squeeze_excite_backward_input(const Tensor& dh, const Tensor& dz2, const Tensor& dz1,
                                   const Tensor& dy, const Tensor& h, const Tensor& z1,
                                   const Tensor& gate, const Tensor& w1, const Tensor& w2);
// dw1[j, c] = sum_n dz1[n, j] * pooled[n, c], db1 = sum_n dz1,
// dw2[c, j] = sum_n dz2[n, c] * silu(z1[n, j]), db2 = sum_n dz2.
void squeeze_excite_backward_weights(const Tensor& dw1, const Tensor& db1, const Tensor& dw2,
                                     const Tensor& db2, const Tensor& dz1, const Tensor& dz2,
                                     const Tensor& pooled, const Tensor& z1);

namespace cpu {
void squeeze_excite_forward(const Tensor& y, const Tensor& pooled, const Tensor& z1,
                            const Tensor& gate, const Tensor& h, const Tensor& w1,
                            const Tensor& b1, const Tensor& w2, const Tensor& b2);
void squeeze_excite_backward_input(const Tensor& dh, const Tensor& dz2, const Tensor& dz1,
                                   const Tensor& dy, const Tensor& h, const Tensor& z1,
                                   const Tensor& gate, const Tensor& w1, const Tensor& w2);
void squeeze_excite_backward_weights(const Tensor& dw1, const Tensor& db1, const Tensor& dw2,
                                     const Tensor& db2, const Tensor& dz1, const Tensor& dz2,
                                     const Tensor& pooled, const Tensor& z1);
}  // namespace cpu

#ifdef EMBER_WITH_CUDA
namespace cuda {
void squeeze_excite_forward(const Tensor& y, const Tensor& pooled, const Tensor& z1,
                            const Tensor& gate, const Tensor& h, const Tensor& w1,
                            const Tensor& b1, const Tensor& w2, const Tensor& b2);
void squeeze_excite_backward_input(const Tensor& dh, const Tensor& dz2, const Tensor& dz1,
                                   const Tensor& dy, const Tensor& h, const Tensor& z1,
                                   const Tensor& gate, const Tensor& w1, const Tensor& w2);
void squeeze_excite_backward_weights(const Tensor& dw1, const Tensor& db1, const Tensor& dw2,
                                     const Tensor& db2, const Tensor& dz1, const Tensor& dz2,
                                     const Tensor& pooled, const Tensor& z1);
}  // namespace cuda
#endif

}  // namespace ember::kernels
