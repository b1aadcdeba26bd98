// Tensor: a handle (shared pointer) to a TensorImpl, which is a strided view into a Storage plus
// the autograd metadata. Copying a Tensor copies the handle, never the data.
//
// Layout rules: row-major strides in elements; activations and images are NHWC; convolution
// filters are KRSC (output channels, filter rows, filter columns, input channels per group).
// Differentiable functions on tensors live in ops/ (ops/ops.h); this header owns the data
// structure, factories and host-side helpers only.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace ember {

class Node;  // autograd/node.h
struct TensorImpl;

struct TensorOptions {
  DType dtype = DType::Float32;
  Device device = Device::cpu();
  bool requires_grad = false;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: no storage, used for "no gradient"
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

  // --- metadata ---
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t axis) const;  // negative axes count from the end
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  bool is_cuda() const { return device().is_cuda(); }
  bool is_contiguous() const;
  int64_t offset() const;  // in elements, into the storage
  const std::shared_ptr<Storage>& storage() const;
  std::string describe() const;  // "float32[2, 3] on cpu": used in error messages

  // --- raw data (no autograd) ---
  void* raw_data() const;  // pointer to element 0 of this view
  template <typename T> T* data() const {
    EMBER_CHECK(dtype() == dtype_of<T>(), "data<", dtype_name(dtype_of<T>()), ">() called on a ",
                describe(), " tensor");
    return static_cast<T*>(raw_data());
  }
  // Copies to the host, contiguous, converted to T. Synchronises with the GPU: not for use
  // inside a training step.
  template <typename T> std::vector<T> to_vector() const;
  template <typename T> T item() const;
  uint64_t version() const;
  void bump_version() const;  // call after writing into the storage in place

  // --- autograd ---
  bool requires_grad() const;
  // Marks a leaf as a parameter-like tensor whose .grad accumulates. Throws on non-leaves.
  Tensor& set_requires_grad(bool requires_grad);
  bool is_leaf() const;  // no grad_fn
  const Tensor& grad() const;  // undefined until a backward pass reaches this tensor
  Tensor& mutable_grad();
  const std::shared_ptr<Node>& grad_fn() const;
  uint32_t output_nr() const;
  // Keep .grad for this non-leaf tensor too (by default only leaves keep it).
  void retain_grad() const;
  // Runs the backward pass from this tensor (a scalar unless `gradient` is given).
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false,
                bool create_graph = false) const;

  // --- pinned host memory (tensor/tensor.cpp; docs/memory.md) ---
  // A contiguous CPU copy in page-locked memory, from which a non_blocking copy to the GPU is
  // asynchronous; *this when already pinned. No autograd history (it is for input data).
  // Throws for a GPU tensor and in a CPU-only build.
  Tensor pin_memory() const;
  bool is_pinned() const;  // a CPU tensor whose storage is page-locked

  // --- conveniences that forward to ops/ (declared here, defined there) ---
  // With non_blocking, a host->device copy does not wait for the GPU (from pinned memory it is
  // asynchronous; pageable memory is staged through a pinned buffer), and to(Device::cpu(), true)
  // of a GPU tensor gives a pinned tensor that is valid only after cuda_synchronize()
  // (tensor/memory.h). Without it, copies from or to the host wait.
  Tensor to(Device device, bool non_blocking = false) const;
  Tensor to(DType dtype) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor detach() const;  // same storage, no history
  Tensor reshape(const Shape& shape) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor expand(const Shape& shape) const;
  Tensor slice(int64_t axis, int64_t start, int64_t stop, int64_t step = 1) const;
  Tensor sum() const;
  Tensor mean() const;

  std::string str() const;  // values, PyTorch-like, long dimensions abbreviated

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct AutogradMeta {
  bool requires_grad = false;
  bool retains_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;  // set on op outputs; empty on leaves
  uint32_t output_nr = 0;         // which output of grad_fn this tensor is
  std::weak_ptr<Node> grad_accumulator;  // leaves: the node that adds into .grad
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;
  Shape shape;
  Shape strides;
  DType dtype = DType::Float32;
  AutogradMeta autograd;
};

std::ostream& operator<<(std::ostream& out, const Tensor& t);

// --- factories (no autograd history; requires_grad from options marks a leaf) ---
Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor scalar_tensor(double value, TensorOptions options = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor empty_like(const Tensor& t);
// Uninitialised CPU tensor in pinned (page-locked) host memory; throws in a CPU-only build.
Tensor empty_pinned(const Shape& shape, DType dtype = DType::Float32);
// 0, 1, ..., n-1 as int64 (or the dtype in options).
Tensor arange(int64_t n, TensorOptions options = {.dtype = DType::Int64});
// Builds a tensor from host values, converting them to options.dtype.
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, TensorOptions options = {});

// A view sharing `base`'s storage (no autograd; ops/shape.cpp wraps it with history).
Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);

// --- raw, non-differentiable data movement (tensor/copy.cpp) ---
// dst <- src elementwise, casting dtype, across devices; shapes must be equal. Bumps dst's version.
// non_blocking: see copy_bytes in tensor/storage.h.
void copy_(const Tensor& dst, const Tensor& src, bool non_blocking = false);
// Sets every element of dst to value. Bumps dst's version.
void fill_(const Tensor& dst, double value);
// Contiguous copy of t on `device` with `dtype`, without autograd history. With non_blocking, a
// copy from a GPU to the host lands in pinned memory without waiting (cuda_synchronize() before
// reading it); other transfers as in copy_.
Tensor convert(const Tensor& t, DType dtype, Device device, bool non_blocking = false);

// --- comparisons for tests and tools (host side; synchronises) ---
// True when |a - b| <= atol + rtol * |b| everywhere (NaNs never compare equal).
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
double max_abs_diff(const Tensor& a, const Tensor& b);

// Checks shared by ops: throw messages naming the op and both operands.
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);
void check_same_shape(const Tensor& a, const Tensor& b, const char* op);
void check_defined(const Tensor& t, const char* op, const char* argument);

}  // namespace ember
