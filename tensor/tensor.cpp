// Tensor metadata, factories, views, printing and host-side comparisons.
#include "tensor/tensor.h"

#include <cmath>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "tensor/error.h"

namespace ember {

const Shape& Tensor::shape() const { check_defined(*this, "shape", "tensor"); return impl_->shape; }
const Shape& Tensor::strides() const { return impl_->strides; }
int64_t Tensor::size(int64_t axis) const { return shape()[normalize_axis(axis, dim(), "size")]; }
int64_t Tensor::numel() const { return numel_of(shape()); }
DType Tensor::dtype() const { check_defined(*this, "dtype", "tensor"); return impl_->dtype; }
Device Tensor::device() const {
  check_defined(*this, "device", "tensor");
  return impl_->storage ? impl_->storage->device() : Device::cpu();
}
int64_t Tensor::offset() const { return impl_->offset; }
const std::shared_ptr<Storage>& Tensor::storage() const { return impl_->storage; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (impl_->shape[i] == 1) continue;
    if (impl_->strides[i] != expected) return false;
    expected *= impl_->shape[i];
  }
  return true;
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype())) + shape_str(shape()) + " on " + device().str();
}

void* Tensor::raw_data() const {
  if (!impl_->storage) return nullptr;
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * dtype_size(impl_->dtype);
}

bool Tensor::is_pinned() const {
  return defined() && impl_->storage && impl_->storage->is_pinned();
}

Tensor Tensor::pin_memory() const {
  check_defined(*this, "pin_memory", "tensor");
  EMBER_CHECK(device().is_cpu(), "pin_memory: ", describe(),
              " is not on the CPU; only host tensors can be pinned");
  if (is_pinned()) return *this;
  Tensor out = empty_pinned(shape(), dtype());
  copy_(out, *this);
  return out;
}

uint64_t Tensor::version() const { return impl_->storage ? impl_->storage->version() : 0; }
void Tensor::bump_version() const { if (impl_->storage) impl_->storage->bump_version(); }

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = convert(*this, dtype_of<T>(), Device::cpu());
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}

template <typename T>
T Tensor::item() const {
  EMBER_CHECK(numel() == 1, "item() needs a tensor with one element, got ", describe());
  return to_vector<T>()[0];
}

#define EMBER_INSTANTIATE(T)                                 \
  template std::vector<T> Tensor::to_vector<T>() const;      \
  template T Tensor::item<T>() const;
EMBER_INSTANTIATE(float)
EMBER_INSTANTIATE(double)
EMBER_INSTANTIATE(uint8_t)
EMBER_INSTANTIATE(int32_t)
EMBER_INSTANTIATE(int64_t)
#undef EMBER_INSTANTIATE

bool Tensor::requires_grad() const { return defined() && impl_->autograd.requires_grad; }

Tensor& Tensor::set_requires_grad(bool requires_grad) {
  check_defined(*this, "set_requires_grad", "tensor");
  EMBER_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can be marked; this ",
              describe(), " tensor was produced by an op (use detach() first)");
  EMBER_CHECK(!requires_grad || is_floating(dtype()),
              "set_requires_grad: only floating-point tensors can require gradients, got ",
              describe());
  impl_->autograd.requires_grad = requires_grad;
  return *this;
}

bool Tensor::is_leaf() const { return impl_->autograd.grad_fn == nullptr; }
const Tensor& Tensor::grad() const { return impl_->autograd.grad; }
Tensor& Tensor::mutable_grad() { return impl_->autograd.grad; }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return impl_->autograd.grad_fn; }
uint32_t Tensor::output_nr() const { return impl_->autograd.output_nr; }

// ---------------------------------------------------------------------------------------------
// Factories

Tensor empty(const Shape& shape, TensorOptions options) {
  for (int64_t d : shape) EMBER_CHECK(d >= 0, "empty: negative dimension in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(numel_of(shape) * dtype_size(options.dtype), options.device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = options.dtype;
  Tensor t(std::move(impl));
  if (options.requires_grad) t.set_requires_grad(true);
  return t;
}

Tensor empty_pinned(const Shape& shape, DType dtype) {
  for (int64_t d : shape)
    EMBER_CHECK(d >= 0, "empty_pinned: negative dimension in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(numel_of(shape) * dtype_size(dtype), Device::cpu(),
                                            pinned_allocator());
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor full(const Shape& shape, double value, TensorOptions options) {
  const bool requires_grad = options.requires_grad;
  options.requires_grad = false;
  Tensor t = empty(shape, options);
  fill_(t, value);
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }
Tensor scalar_tensor(double value, TensorOptions options) { return full({}, value, options); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), {t.dtype(), t.device()}); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), {t.dtype(), t.device()}); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), {t.dtype(), t.device()}); }

Tensor arange(int64_t n, TensorOptions options) {
  std::vector<int64_t> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = i;
  return from_vector(values, {n}, options);
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, TensorOptions options) {
  EMBER_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape), "from_vector: ",
              values.size(), " values do not fill shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(values.size() * sizeof(T), Device::cpu());
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype_of<T>();
  if (!values.empty()) std::memcpy(impl->storage->data(), values.data(), values.size() * sizeof(T));
  Tensor host(std::move(impl));
  Tensor t = (options.dtype == host.dtype() && options.device.is_cpu())
                 ? host : convert(host, options.dtype, options.device);
  if (options.requires_grad) t.set_requires_grad(true);
  return t;
}
template Tensor from_vector(const std::vector<float>&, const Shape&, TensorOptions);
template Tensor from_vector(const std::vector<double>&, const Shape&, TensorOptions);
template Tensor from_vector(const std::vector<uint8_t>&, const Shape&, TensorOptions);
template Tensor from_vector(const std::vector<int32_t>&, const Shape&, TensorOptions);
template Tensor from_vector(const std::vector<int64_t>&, const Shape&, TensorOptions);

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  check_defined(base, "make_view", "base");
  EMBER_CHECK(shape.size() == strides.size(), "make_view: shape ", shape_str(shape),
              " and strides ", shape_str(strides), " differ in rank");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->offset = offset;
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

// ---------------------------------------------------------------------------------------------
// Checks

void check_defined(const Tensor& t, const char* op, const char* argument) {
  EMBER_CHECK(t.defined(), op, ": argument '", argument, "' is an undefined tensor");
}
void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  EMBER_CHECK(a.device() == b.device(), op, ": operands are on different devices: ",
              a.describe(), " and ", b.describe());
}
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  EMBER_CHECK(a.dtype() == b.dtype(), op, ": operands have different dtypes: ", a.describe(),
              " and ", b.describe());
}
void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  EMBER_CHECK(a.shape() == b.shape(), op, ": operands have different shapes: ", a.describe(),
              " and ", b.describe());
}

// ---------------------------------------------------------------------------------------------
// Comparisons and printing (host side)

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  check_same_shape(a, b, "allclose");
  const auto va = a.to_vector<double>();
  const auto vb = b.to_vector<double>();
  for (size_t i = 0; i < va.size(); ++i) {
    if (!(std::abs(va[i] - vb[i]) <= atol + rtol * std::abs(vb[i]))) return false;
  }
  return true;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  check_same_shape(a, b, "max_abs_diff");
  const auto va = a.to_vector<double>();
  const auto vb = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    const double d = std::abs(va[i] - vb[i]);
    if (std::isnan(d)) return d;
    m = std::max(m, d);
  }
  return m;
}

namespace {
// Prints a nested list, showing at most `edge` items at each end of long dimensions.
void print_nested(std::ostream& out, const std::vector<double>& v, const Shape& shape,
                  const Shape& strides, size_t dim, int64_t base, bool integral, int indent) {
  constexpr int64_t edge = 3;
  const int64_t n = shape[dim];
  out << "[";
  for (int64_t i = 0; i < n; ++i) {
    if (n > 2 * edge && i == edge) {
      out << (dim + 1 == shape.size() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - edge;
    }
    if (dim + 1 == shape.size()) {
      const double x = v[base + i * strides[dim]];
      if (integral) out << static_cast<int64_t>(x);
      else out << std::setprecision(6) << x;
    } else {
      print_nested(out, v, shape, strides, dim + 1, base + i * strides[dim], integral, indent + 1);
    }
    if (i + 1 < n) out << (dim + 1 == shape.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
  }
  out << "]";
}
}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream out;
  out << "tensor(";
  const auto v = to_vector<double>();
  if (dim() == 0) out << v[0];
  else if (numel() == 0) out << "[]";
  else print_nested(out, v, shape(), contiguous_strides(shape()), 0, 0, is_integral(dtype()), 7);
  out << ", " << describe();
  if (requires_grad()) out << ", requires_grad";
  out << ")";
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Tensor& t) { return out << t.str(); }

}  // namespace ember
