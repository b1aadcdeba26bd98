// Indexing: gather/scatter along an axis and embedding lookup. Indices are int64.
#pragma once
#include "tensor/tensor.h"

namespace ember {

// out[i][j][k] = x[i][index[i][j][k]][k] for axis 1 (PyTorch's gather): index has x's rank and
// its shape is the output shape.
Tensor gather(const Tensor& x, int64_t axis, const Tensor& index);
// Returns a tensor of `shape` that is zero except out[..index..] += src (the adjoint of gather).
Tensor scatter_add(const Shape& shape, int64_t axis, const Tensor& index, const Tensor& src);
// weight [V, D], index int64 of any shape -> [index..., D].
Tensor embedding(const Tensor& weight, const Tensor& index);
// The adjoint of embedding: sums rows of g [index..., D] into a [V, D] tensor.
Tensor embedding_backward(const Tensor& g, const Tensor& index, int64_t num_embeddings);

}  // namespace ember
