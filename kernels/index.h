// Contract for indexing kernels (CPU: kernels/cpu/index.cpp; CUDA: kernels/cuda/index.cu): gather and its
// adjoint scatter_add along one axis, embedding lookup and its adjoint. float32/float64 values,
// int64 indices. Inputs may have any strides; `out` is preallocated and contiguous.
//
// Every kernel checks each index it reads: a value outside [0, size) throws ember::Error naming
// the value, the valid range and the tensor indexed. Accumulating kernels (scatter_add,
// embedding_backward) add in the row-major order of the index, so results are bit-identical
// from run to run (on the GPU too, and identical to the CPU's). On the GPU the range check does
// not wait: the first bad index is recorded on the device and thrown, with the same message
// less the tensor's shape, at the host's next synchronisation (tensor/cuda/device_errors.h).
#pragma once
#include "tensor/tensor.h"

namespace ember::kernels {

// out [index.shape]: out[p] = x[p with p[axis] replaced by index[p]]. index has x's rank and
// index.shape[d] <= x.shape[d] for d != axis.
void gather(const Tensor& out, const Tensor& x, int64_t axis, const Tensor& index);
// out (zero-filled by the caller): out[p with p[axis] replaced by index[p]] += src[p] for every
// p in index's shape; src has index's shape.
void scatter_add(const Tensor& out, int64_t axis, const Tensor& index, const Tensor& src);
// out [index.shape..., D]: out[p, :] = weight[index[p], :]; weight [V, D].
void embedding(const Tensor& out, const Tensor& weight, const Tensor& index);
// out [V, D] (zero-filled by the caller): out[index[p], :] += g[p, :]; g [index.shape..., D].
void embedding_backward(const Tensor& out, const Tensor& g, const Tensor& index);

namespace cpu {
void gather(const Tensor& out, const Tensor& x, int64_t axis, const Tensor& index);
void scatter_add(const Tensor& out, int64_t axis, const Tensor& index, const Tensor& src);
void embedding(const Tensor& out, const Tensor& weight, const Tensor& index);
void embedding_backward(const Tensor& out, const Tensor& g, const Tensor& index);
}  // namespace cpu

#ifdef EMBER_WITH_CUDA
namespace cuda {
void gather(const Tensor& out, const Tensor& x, int64_t axis, const Tensor& index);
void scatter_add(const Tensor& out, int64_t axis, const Tensor& index, const Tensor& src);
void embedding(const Tensor& out, const Tensor& weight, const Tensor& index);
void embedding_backward(const Tensor& out, const Tensor& g, const Tensor& index);
}  // namespace cuda
#endif

}  // namespace ember::kernels
