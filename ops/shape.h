// Shape and movement ops. reshape (of contiguous data), permute, transpose, expand, slice,
// squeeze/unsqueeze and detach are views sharing storage; the rest copy. All are differentiable
// and support double backward.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace ember {

Tensor reshape(const Tensor& x, const Shape& shape);  // one dimension may be -1
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t axis0, int64_t axis1);
Tensor expand(const Tensor& x, const Shape& shape);   // broadcast view (stride 0)
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t stop, int64_t step = 1);
Tensor unsqueeze(const Tensor& x, int64_t axis);
Tensor squeeze(const Tensor& x, int64_t axis);
Tensor flatten(const Tensor& x, int64_t start_axis = 1);  // [N, ...] -> [N, prod(...)]
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
Tensor detach(const Tensor& x);
Tensor to_device(const Tensor& x, Device device, bool non_blocking = false);  // tensor/memory.h
Tensor to_dtype(const Tensor& x, DType dtype);
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
// Places x into a zero tensor of `shape` at the positions slice(axis, start, stop, step) would
// read: the backward of slice.
Tensor slice_backward(const Tensor& x, const Shape& shape, int64_t axis, int64_t start,
                      int64_t stop, int64_t step);

}  // namespace ember
