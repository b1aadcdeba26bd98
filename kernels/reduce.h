// Contract for reduction kernels. `out` is preallocated and contiguous with x's shape where
// reduced axes have size 1 (keepdim layout); x may have any strides. float32/float64.
// Sums accumulate in double on the CPU, in a fixed order: results are deterministic.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace ember::kernels {

void sum(const Tensor& out, const Tensor& x);
void amax(const Tensor& out, const Tensor& x);
// out int64 [x.shape without `axis`]: index of the first maximum along axis.
void argmax(const Tensor& out, const Tensor& x, int64_t axis);

namespace cpu {
void sum(const Tensor& out, const Tensor& x);
void amax(const Tensor& out, const Tensor& x);
void argmax(const Tensor& out, const Tensor& x, int64_t axis);
}  // namespace cpu

#ifdef EMBER_WITH_CUDA
namespace cuda {  // kernels/cuda/reduce.cu: same results, fixed-order trees (no atomics)
void sum(const Tensor& out, const Tensor& x);
void amax(const Tensor& out, const Tensor& x);
void argmax(const Tensor& out, const Tensor& x, int64_t axis);
}  // namespace cuda
#endif

}  // namespace ember::kernels
