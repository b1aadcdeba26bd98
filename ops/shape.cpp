// Shape and movement ops. Views share storage (and so the version counter) with their base;
// each records a backward that undoes the view: reshape <-> reshape, permute <-> inverse
// permute, expand <-> sum_to, slice <-> slice_backward, concat <-> slices, to(device/dtype) <->
// to(original). All support double backward.
#include "ops/shape.h"

#include <algorithm>
#include <numeric>

#include "autograd/function.h"
#include "ops/reduce.h"

namespace ember {

Tensor reshape(const Tensor& x, const Shape& shape_in) {
  check_defined(x, "reshape", "x");
  Shape shape = shape_in;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      EMBER_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(shape_in));
      infer = static_cast<int64_t>(i);
    } else {
      EMBER_CHECK(shape[i] >= 0, "reshape: negative dimension in ", shape_str(shape_in));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    EMBER_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot reshape ", x.describe(),
                " into ", shape_str(shape_in));
    shape[infer] = x.numel() / known;
  }
  EMBER_CHECK(numel_of(shape) == x.numel(), "reshape: cannot reshape ", x.describe(), " (",
              x.numel(), " elements) into ", shape_str(shape_in));
  const Tensor base = x.is_contiguous() ? x : contiguous(x);
  Tensor out = make_view(base, shape, contiguous_strides(shape), base.offset());
  // When x was not contiguous, `base` already carries the copy's history.
  record("reshape", {base}, out, [xs = x.shape()](const BackwardContext& ctx) {
    return TensorList{reshape(ctx.grad(), xs)};
  });
  return out;
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  check_defined(x, "permute", "x");
  EMBER_CHECK(static_cast<int64_t>(dims.size()) == x.dim(), "permute: ", dims.size(),
              " dims given for ", x.describe());
  std::vector<int64_t> inverse(dims.size(), -1);
  Shape shape(dims.size()), strides(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = normalize_axis(dims[i], x.dim(), "permute");
    EMBER_CHECK(inverse[d] < 0, "permute: axis ", d, " appears twice");
    inverse[d] = static_cast<int64_t>(i);
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
  }
  Tensor out = make_view(x, shape, strides, x.offset());
  record("permute", {x}, out, [inverse](const BackwardContext& ctx) {
    return TensorList{permute(ctx.grad(), inverse)};
  });
  return out;
}

Tensor transpose(const Tensor& x, int64_t axis0, int64_t axis1) {
  std::vector<int64_t> dims(x.dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[normalize_axis(axis0, x.dim(), "transpose")],
            dims[normalize_axis(axis1, x.dim(), "transpose")]);
  return permute(x, dims);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  check_defined(x, "expand", "x");
  EMBER_CHECK(shape.size() >= x.shape().size(), "expand: cannot expand ", x.describe(), " to ",
              shape_str(shape));
  const size_t lead = shape.size() - x.shape().size();
  Shape strides(shape.size(), 0);
  for (size_t i = 0; i < x.shape().size(); ++i) {
    const int64_t have = x.shape()[i], want = shape[lead + i];
    EMBER_CHECK(have == want || have == 1, "expand: cannot expand ", x.describe(), " to ",
                shape_str(shape));
    strides[lead + i] = have == 1 && want != 1 ? 0 : x.strides()[i];
  }
  if (shape == x.shape()) return x;
  Tensor out = make_view(x, shape, strides, x.offset());
  record("expand", {x}, out, [xs = x.shape()](const BackwardContext& ctx) {
    return TensorList{sum_to(ctx.grad(), xs)};
  });
  return out;
}

namespace {
struct SliceRange { int64_t start, stop, step, length; };
SliceRange resolve_slice(int64_t size, int64_t start, int64_t stop, int64_t step, const char* op) {
  EMBER_CHECK(step > 0, op, ": step must be positive, got ", step);
  if (start < 0) start += size;
  if (stop < 0) stop += size;
  start = std::clamp<int64_t>(start, 0, size);
  stop = std::clamp<int64_t>(stop, start, size);
  return {start, stop, step, (stop - start + step - 1) / step};
}
}  // namespace

Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t stop, int64_t step) {
  check_defined(x, "slice", "x");
  axis = normalize_axis(axis, x.dim(), "slice");
  const SliceRange r = resolve_slice(x.shape()[axis], start, stop, step, "slice");
  Shape shape = x.shape(), strides = x.strides();
  shape[axis] = r.length;
  strides[axis] *= r.step;
  Tensor out = make_view(x, shape, strides, x.offset() + r.start * x.strides()[axis]);
  record("slice", {x}, out, [xs = x.shape(), axis, r](const BackwardContext& ctx) {
    return TensorList{slice_backward(ctx.grad(), xs, axis, r.start, r.stop, r.step)};
  });
  return out;
}

Tensor slice_backward(const Tensor& g, const Shape& shape, int64_t axis, int64_t start,
                      int64_t stop, int64_t step) {
  Tensor out = zeros(shape, {g.dtype(), g.device()});
  Tensor window;
  {
    NoGradGuard no_grad;
    window = slice(out, axis, start, stop, step);
  }
  check_same_shape(window, g, "slice_backward");
  copy_(window, g);
  record("slice_backward", {g}, out, [axis, start, stop, step](const BackwardContext& ctx) {
    return TensorList{slice(ctx.grad(), axis, start, stop, step)};
  });
  return out;
}

Tensor unsqueeze(const Tensor& x, int64_t axis) {
  axis = normalize_axis(axis, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape();
  shape.insert(shape.begin() + axis, 1);
  return reshape(x, shape);
}

Tensor squeeze(const Tensor& x, int64_t axis) {
  axis = normalize_axis(axis, x.dim(), "squeeze");
  EMBER_CHECK(x.shape()[axis] == 1, "squeeze: axis ", axis, " of ", x.describe(), " is not 1");
  Shape shape = x.shape();
  shape.erase(shape.begin() + axis);
  return reshape(x, shape);
}

Tensor flatten(const Tensor& x, int64_t start_axis) {
  start_axis = normalize_axis(start_axis, x.dim(), "flatten");
  Shape shape(x.shape().begin(), x.shape().begin() + start_axis);
  shape.push_back(-1);
  return reshape(x, shape);
}

Tensor contiguous(const Tensor& x) {
  check_defined(x, "contiguous", "x");
  return x.is_contiguous() ? x : clone(x);
}

Tensor clone(const Tensor& x) {
  check_defined(x, "clone", "x");
  Tensor out = empty(x.shape(), {x.dtype(), x.device()});
  copy_(out, x);
  record("clone", {x}, out, [](const BackwardContext& ctx) { return TensorList{ctx.grad()}; });
  return out;
}

Tensor detach(const Tensor& x) {
  check_defined(x, "detach", "x");
  return make_view(x, x.shape(), x.strides(), x.offset());
}

Tensor to_device(const Tensor& x, Device device, bool non_blocking) {
  check_defined(x, "to_device", "x");
  if (x.device() == device) return x;
  Tensor out = convert(x, x.dtype(), device, non_blocking);
  record("to_device", {x}, out, [from = x.device()](const BackwardContext& ctx) {
    return TensorList{to_device(ctx.grad(), from)};
  });
  return out;
}

Tensor to_dtype(const Tensor& x, DType dtype) {
  check_defined(x, "to_dtype", "x");
  if (x.dtype() == dtype) return x;
  Tensor out = convert(x, dtype, x.device());
  if (is_floating(dtype) && is_floating(x.dtype())) {
    record("to_dtype", {x}, out, [from = x.dtype()](const BackwardContext& ctx) {
      return TensorList{to_dtype(ctx.grad(), from)};
    });
  }
  return out;
}

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  EMBER_CHECK(!xs.empty(), "concat: no tensors given");
  for (const Tensor& t : xs) check_defined(t, "concat", "xs");
  const Tensor& first = xs[0];
  axis = normalize_axis(axis, first.dim(), "concat");
  Shape shape = first.shape();
  shape[axis] = 0;
  for (const Tensor& t : xs) {
    check_same_dtype(first, t, "concat");
    check_same_device(first, t, "concat");
    EMBER_CHECK(t.dim() == first.dim(), "concat: ", t.describe(), " and ", first.describe(),
                " differ in rank");
    for (int64_t d = 0; d < t.dim(); ++d)
      EMBER_CHECK(d == axis || t.shape()[d] == first.shape()[d], "concat: ", t.describe(),
                  " and ", first.describe(), " differ outside axis ", axis);
    shape[axis] += t.shape()[axis];
  }
  Tensor out = empty(shape, {first.dtype(), first.device()});
  std::vector<int64_t> bounds{0};
  {
    NoGradGuard no_grad;
    for (const Tensor& t : xs) {
      const int64_t begin = bounds.back(), end = begin + t.shape()[axis];
      copy_(slice(out, axis, begin, end), t);
      bounds.push_back(end);
    }
  }
  record("concat", xs, out, [bounds, axis](const BackwardContext& ctx) {
    TensorList grads;
    for (size_t i = 0; i + 1 < bounds.size(); ++i)
      grads.push_back(ctx.needs(i) ? slice(ctx.grad(), axis, bounds[i], bounds[i + 1]) : Tensor());
    return grads;
  });
  return out;
}

// Tensor's convenience methods (declared in tensor/tensor.h).
Tensor Tensor::to(Device device, bool non_blocking) const {
  return to_device(*this, device, non_blocking);
}
Tensor Tensor::to(DType dtype) const { return to_dtype(*this, dtype); }
Tensor Tensor::contiguous() const { return ember::contiguous(*this); }
Tensor Tensor::clone() const { return ember::clone(*this); }
Tensor Tensor::detach() const { return ember::detach(*this); }
Tensor Tensor::reshape(const Shape& shape) const { return ember::reshape(*this, shape); }
Tensor Tensor::permute(const std::vector<int64_t>& dims) const { return ember::permute(*this, dims); }
Tensor Tensor::expand(const Shape& shape) const { return ember::expand(*this, shape); }
Tensor Tensor::slice(int64_t axis, int64_t start, int64_t stop, int64_t step) const {
  return ember::slice(*this, axis, start, stop, step);
}
Tensor Tensor::sum() const { return ember::sum(*this); }
Tensor Tensor::mean() const { return ember::mean(*this); }

}  // namespace ember
