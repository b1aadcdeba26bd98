// Module: the base of every layer and model. It owns named parameters (leaves that require
// grad), buffers (state that is saved but not trained, e.g. batch-norm running statistics) and
// child modules, and walks them recursively with dotted names ("block1.conv.weight"), as
// PyTorch's nn.Module does. Layer adds a single-input forward().
//
// Tensors are handles, so a subclass keeps its own copy of each handle it registers
// (weight_ = register_parameter("weight", ...)); to() swaps the storage behind the existing
// handles, so those copies, optimizers and CUDA graphs all keep seeing the same tensors.
// Tested in tests/test_nn.cpp.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tensor/profiler.h"
#include "tensor/tensor.h"

namespace ember::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // Modules hold their children by shared_ptr; a copy would silently share them.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // A short description for messages, e.g. "Conv2d(3 -> 8, 3x3, stride 2, same)".
  virtual std::string name() const { return "Module"; }

  // Recursive walks, in registration order, own entries before children's. A tensor registered
  // under two names (shared weights) is listed once, under the first name.
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;
  std::vector<Tensor> buffers() const;
  // Direct children only.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }
  int64_t num_parameters() const;  // total number of elements over parameters()

  // Training flag, set recursively. Layers such as BatchNorm and Dropout read is_training().
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Move (or convert) every parameter, its .grad, and every buffer in place: the tensor handles
  // stay the same, only their storage is replaced. Do not call while an autograd graph that
  // uses these tensors is still alive.
  Module& to(Device device);
  Module& to(DType dtype);

  // Drops every parameter's .grad (the default, as PyTorch's since 2.0: the next backward
  // assigns its gradient instead of adding it to zeros, which saves a fill and an addition per
  // parameter), or with set_to_none = false sets it to zero in place (same memory).
  void zero_grad(bool set_to_none = true);

 protected:
  // Registers a parameter: `value` (a leaf) is marked requires_grad and its handle returned.
  Tensor register_parameter(const std::string& name, Tensor value);
  Tensor register_buffer(const std::string& name, Tensor value);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    add_child(name, child);
    return child;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> child);
  void check_new_name(const std::string& name, const char* what) const;
  void collect(NamedTensors& out, const std::string& prefix, bool buffers) const;
  void convert_in_place(std::optional<DType> dtype, std::optional<Device> device);

  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// A module with one input and one output: what Sequential chains.
class Layer : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) {
    const profiler::Range range("forward");  // the outermost module's (tensor/profiler.h)
    return forward(x);
  }
};

// Drops (the default) or zeroes in place the .grad of each tensor; shared by Module and the
// optimizers. When zeroing, a .grad that carries history (from a create_graph backward) is
// replaced by new zeros.
void zero_grad(const std::vector<Tensor>& tensors, bool set_to_none = true);

}  // namespace ember::nn
