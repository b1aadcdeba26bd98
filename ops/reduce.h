// Reductions over axes. An empty axes list reduces over every axis. All support double backward.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace ember {

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
// Maximum values. The gradient is shared equally among tied maxima (as PyTorch's amax).
Tensor amax(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
// Index of the maximum along one axis (first on ties), int64, no gradient.
Tensor argmax(const Tensor& x, int64_t axis);
// Sums a broadcast result back to `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace ember
