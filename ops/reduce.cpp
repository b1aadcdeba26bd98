// Reductions: forward kernels and their backward.
// d sum = broadcast of g; d mean = broadcast of g / count; d amax = g shared among the maxima.
#include "ops/reduce.h"

#include <algorithm>

#include "autograd/function.h"
#include "kernels/reduce.h"
#include "ops/elementwise.h"
#include "ops/shape.h"

namespace ember {

namespace {

std::vector<int64_t> normalized_axes(const Tensor& x, const std::vector<int64_t>& axes, const char* op) {
  std::vector<int64_t> out;
  if (axes.empty()) {
    for (int64_t d = 0; d < x.dim(); ++d) out.push_back(d);
    return out;
  }
  for (int64_t a : axes) out.push_back(normalize_axis(a, x.dim(), op));
  std::sort(out.begin(), out.end());
  EMBER_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op,
              ": an axis is repeated in the reduction axes");
  return out;
}

Shape keepdim_shape(const Tensor& x, const std::vector<int64_t>& axes) {
  Shape s = x.shape();
  for (int64_t a : axes) s[a] = 1;
  return s;
}

Shape dropped_shape(const Tensor& x, const std::vector<int64_t>& axes) {
  Shape s;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) s.push_back(x.shape()[d]);
  return s;
}

// Broadcasts a reduced gradient back over x's shape.
Tensor expand_back(const Tensor& g, const Shape& keep_shape, const Shape& x_shape) {
  return expand(reshape(g, keep_shape), x_shape);
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes_in, bool keepdim) {
  check_defined(x, "sum", "x");
  const auto axes = normalized_axes(x, axes_in, "sum");
  const Shape keep = keepdim_shape(x, axes);
  Tensor out = empty(keep, {x.dtype(), x.device()});
  kernels::sum(out, x);
  if (!keepdim) out = make_view(out, dropped_shape(x, axes), contiguous_strides(dropped_shape(x, axes)), 0);
  record("sum", {x}, out, [keep, xs = x.shape()](const BackwardContext& ctx) {
    return TensorList{expand_back(ctx.grad(), keep, xs)};
  });
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& axes_in, bool keepdim) {
  check_defined(x, "mean", "x");
  const auto axes = normalized_axes(x, axes_in, "mean");
  int64_t count = 1;
  for (int64_t a : axes) count *= x.shape()[a];
  EMBER_CHECK(count > 0, "mean: reducing over an empty axis of ", x.describe());
  return mul_scalar(sum(x, axes, keepdim), 1.0 / static_cast<double>(count));
}

Tensor amax(const Tensor& x, const std::vector<int64_t>& axes_in, bool keepdim) {
  check_defined(x, "amax", "x");
  const auto axes = normalized_axes(x, axes_in, "amax");
  EMBER_CHECK(x.numel() > 0, "amax: empty tensor ", x.describe());
  const Shape keep = keepdim_shape(x, axes);
  Tensor out = empty(keep, {x.dtype(), x.device()});
  kernels::amax(out, x);
  Tensor kept = out;
  if (!keepdim) out = make_view(out, dropped_shape(x, axes), contiguous_strides(dropped_shape(x, axes)), 0);
  record("amax", {x}, out, [sx = save(x), sy = save(kept), axes, keep](const BackwardContext& ctx) {
    const Tensor& x = sx.get("amax");
    // Ties share the gradient equally; the mask is piecewise constant (no second-order term).
    Tensor mask = to_dtype(equal(x, expand(sy.get("amax"), x.shape())), x.dtype());
    Tensor count = sum(mask, axes, true);
    Tensor g = reshape(ctx.grad(), keep);
    return TensorList{expand(g / count, x.shape()) * mask};
  });
  return out;
}

Tensor argmax(const Tensor& x, int64_t axis) {
  check_defined(x, "argmax", "x");
  axis = normalize_axis(axis, x.dim(), "argmax");
  EMBER_CHECK(x.shape()[axis] > 0, "argmax: empty axis in ", x.describe());
  Shape out_shape = x.shape();
  out_shape.erase(out_shape.begin() + axis);
  Tensor out = empty(out_shape, {DType::Int64, x.device()});
  kernels::argmax(out, x, axis);
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  EMBER_CHECK(shape.size() <= x.shape().size(), "sum_to: cannot reduce ", x.describe(), " to ",
              shape_str(shape));
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  std::vector<int64_t> axes;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < lead) { axes.push_back(d); continue; }
    const int64_t target = shape[d - lead];
    if (target == 1 && x.shape()[d] != 1) axes.push_back(d);
    else EMBER_CHECK(target == x.shape()[d], "sum_to: cannot reduce ", x.describe(), " to ",
                     shape_str(shape));
  }
  if (axes.empty()) return reshape(x, shape);
  return reshape(sum(x, axes, true), shape);
}

}  // namespace ember
