// Module bookkeeping: registration, recursive walks with dotted names, train/eval, in-place
// device/dtype moves and zero_grad. Mirrors PyTorch's nn.Module semantics where they overlap.
// Tested in tests/test_nn.cpp (suite NnModule).
#include "nn/module.h"

#include <optional>
#include <unordered_set>

#include "tensor/error.h"

namespace ember::nn {

namespace {

// Replaces the storage behind `t` with a contiguous copy converted to dtype/device, keeping the
// handle (TensorImpl) and its autograd metadata.
void swap_storage(const Tensor& t, DType dtype, Device device) {
  if (t.dtype() == dtype && t.device() == device) return;
  Tensor moved = convert(t, dtype, device);
  TensorImpl& impl = *t.impl();
  impl.storage = moved.storage();
  impl.offset = 0;
  impl.strides = moved.strides();
  impl.dtype = dtype;
  // The accumulator of a leaf remembers its dtype and device; let the next backward make a new
  // one.
  impl.autograd.grad_accumulator.reset();
}

}  // namespace

void zero_grad(const std::vector<Tensor>& tensors, bool set_to_none) {
  for (const Tensor& t : tensors) {
    Tensor& g = t.impl()->autograd.grad;
    if (!g.defined()) continue;
    if (set_to_none) {
      g = Tensor();
      continue;
    }
    if (g.requires_grad() || !g.is_contiguous()) {
      // A gradient from a create_graph backward carries history and may alias a tensor of that
      // graph, or be a broadcast view: zeroing it in place could corrupt either, so it is
      // replaced by private zeros (plain training steps never take this path).
      g = zeros_like(g);
      continue;
    }
    fill_(g, 0.0);
  }
}

void Module::check_new_name(const std::string& name, const char* what) const {
  EMBER_CHECK(!name.empty() && name.find('.') == std::string::npos, this->name(), ": ", what,
              " name '", name, "' must be non-empty and contain no '.'");
  auto taken = [&](const auto& list) {
    for (const auto& entry : list) {
      if (entry.first == name) return true;
    }
    return false;
  };
  EMBER_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_), this->name(), ": ",
              what, " name '", name, "' is already registered in this module");
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name, "parameter");
  check_defined(value, "register_parameter", name.c_str());
  EMBER_CHECK(value.is_leaf(), this->name(), ": parameter '", name, "' (", value.describe(),
              ") must be a leaf tensor; pass a detached tensor");
  value.set_requires_grad(true);
  parameters_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name, "buffer");
  check_defined(value, "register_buffer", name.c_str());
  buffers_.emplace_back(name, value);
  return value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> child) {
  check_new_name(name, "child module");
  EMBER_CHECK(child != nullptr, this->name(), ": child module '", name, "' is null");
  EMBER_CHECK(child.get() != this, this->name(), ": a module cannot be its own child");
  children_.emplace_back(name, std::move(child));
}

void Module::collect(NamedTensors& out, const std::string& prefix, bool buffers) const {
  for (const auto& [name, t] : buffers ? buffers_ : parameters_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(out, prefix + name + ".", buffers);
}

namespace {
NamedTensors unique_by_handle(NamedTensors all) {
  std::unordered_set<const TensorImpl*> seen;
  NamedTensors out;
  for (auto& entry : all) {
    if (seen.insert(entry.second.impl()).second) out.push_back(std::move(entry));
  }
  return out;
}
std::vector<Tensor> tensors_of(const NamedTensors& named) {
  std::vector<Tensor> out;
  out.reserve(named.size());
  for (const auto& entry : named) out.push_back(entry.second);
  return out;
}
}  // namespace

NamedTensors Module::named_parameters() const {
  NamedTensors all;
  collect(all, "", /*buffers=*/false);
  return unique_by_handle(std::move(all));
}

NamedTensors Module::named_buffers() const {
  NamedTensors all;
  collect(all, "", /*buffers=*/true);
  return unique_by_handle(std::move(all));
}

std::vector<Tensor> Module::parameters() const { return tensors_of(named_parameters()); }
std::vector<Tensor> Module::buffers() const { return tensors_of(named_buffers()); }

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Tensor& p : parameters()) n += p.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (const auto& entry : children_) entry.second->train(on);
}

void Module::convert_in_place(std::optional<DType> dtype, std::optional<Device> device) {
  auto move = [&](const Tensor& t) {
    // A dtype conversion only touches floating tensors: integer buffers (counters, indices)
    // keep their dtype, as in PyTorch's module.to(dtype).
    const DType new_dtype = dtype && is_floating(t.dtype()) ? *dtype : t.dtype();
    swap_storage(t, new_dtype, device.value_or(t.device()));
  };
  for (const Tensor& p : parameters()) {
    move(p);
    if (p.grad().defined()) move(p.grad());
  }
  for (const Tensor& b : buffers()) move(b);
}

Module& Module::to(Device device) {
  convert_in_place(std::nullopt, device);
  return *this;
}

Module& Module::to(DType dtype) {
  EMBER_CHECK(is_floating(dtype), name(), ".to(", dtype_name(dtype),
              "): modules convert only to floating-point dtypes");
  convert_in_place(dtype, std::nullopt);
  return *this;
}

void Module::zero_grad(bool set_to_none) { nn::zero_grad(parameters(), set_to_none); }

}  // namespace ember::nn
