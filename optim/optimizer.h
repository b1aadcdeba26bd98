// Optimizer: the base of every optimizer. It holds the parameter list and the learning rate,
// zeroes gradients, and runs step() under a NoGradGuard: the parameters that have a gradient are
// grouped by device and dtype (in parameter order) and each group is updated by one
// multi-tensor kernel call (kernels/optim.h) through update_group(). Subclasses (SGD, Adam/AdamW)
// keep their per-parameter state in tensors they allocate on the first step and then update in
// place, so a step allocates nothing once the state exists (what a captured CUDA graph needs).
//
// Device-held scalars: the learning rate (slot 0) and the subclass's counters (Adam: each
// parameter's step count) live in a small float64 tensor on the parameters' device, which the
// kernels read and the step counts are incremented in; a step reads nothing back from the host
// and passes no per-step host value to a kernel. The host keeps an exact mirror of every slot
// (lr(), step counts for schedules and checkpoints). set_lr() and load_state() write the device
// tensor in place, outside a capture (an unchanged value writes nothing). Parameters spread over
// several devices work, with the device tensor rebuilt from the mirror on every such step.
//
// In a captured CUDA graph (tensor/cuda_graph.h) step() runs once at capture; it registers the
// counting of the mirror and of step_count() for every replay (tensor/graph_capture.h), so the
// optimizer must outlive the graphs that captured its steps.
//
// Learning-rate schedules drive an optimizer through lr()/set_lr() and step_count().
// state()/load_state() save and restore everything a resumed run needs (OptimizerState below).
// Tested in tests/test_optim.cpp, tests/test_optim_multi.cpp and tests/test_optim_state.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace ember::optim {

// The saved state of an optimizer, schedule or weight average: named tensors and named scalars,
// in a fixed order, ready for a checkpoint writer. Tensors are copies (they do not alias live
// state) on the device of their parameter. Per-parameter entries are named "<index>.<field>"
// (index into params()), e.g. "3.exp_avg".
struct OptimizerState {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::vector<std::pair<std::string, double>> scalars;

  // Lookups that fail with `owner`, the name and the names present when it is missing.
  double scalar(const std::string& name, const std::string& owner) const;
  const Tensor* find_tensor(const std::string& name) const;  // nullptr when absent
  bool has_scalar(const std::string& name) const;
};

class Optimizer {
 public:
  // Every parameter must be a distinct floating-point leaf that requires grad.
  Optimizer(std::vector<Tensor> params, double lr, const char* name);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Applies one update to every parameter whose .grad is defined (others are skipped, as in
  // PyTorch): one kernel call per (device, dtype) group. Then counts the step.
  void step();
  // Drops every .grad (the default, as PyTorch's), or zeroes them in place (same memory) with
  // set_to_none = false.
  void zero_grad(bool set_to_none = true);

  double lr() const { return scalar_mirror_[0]; }
  void set_lr(double lr);
  int64_t step_count() const { return step_count_; }  // completed steps
  const std::vector<Tensor>& params() const { return params_; }
  const std::string& name() const { return name_; }
  // The device-held scalars (float64 [1 + slots], slot 0 the learning rate) on the device of the
  // last step's parameters; undefined before the first step.
  const Tensor& device_scalars() const { return device_scalars_; }

  // Save/restore: the scalars "num_params", "lr" and "step_count" plus the subclass's
  // per-parameter state. load_state checks everything before changing anything, and fails
  // naming the mismatch (parameter count, an unknown or missing name, a shape).
  virtual OptimizerState state() const;
  virtual void load_state(const OptimizerState& state);

 protected:
  // Hooks for subclasses: append their entries / check and restore them. load_state calls
  // check_state on the whole state first, then restore_state.
  virtual void save_state(OptimizerState& out) const = 0;
  virtual void check_state(const OptimizerState& state) const = 0;
  virtual void restore_state(const OptimizerState& state) = 0;
  // Splits "<index>.<field>" into its parts, failing for a malformed name or an index out of
  // range. Used by subclasses to validate per-parameter names.
  std::pair<size_t, std::string> parse_param_entry(const std::string& name) const;
  // The loaded tensor for parameter `index` as a fresh copy in the parameter's dtype and device,
  // after checking its shape.
  Tensor restore_like_param(const Tensor& saved, size_t index, const std::string& name) const;

  // Parameters with a gradient on one device and of one dtype, in parameter order; grads are
  // contiguous.
  struct Group {
    std::vector<size_t> indices;
    std::vector<Tensor> params, grads;
  };
  // Updates the group's parameters in place with one multi-tensor kernel call reading `scalars`
  // (the device-held scalars on the group's device). Runs with grad mode off. A subclass whose
  // kernel increments a slot on the device increments its mirror with count_scalar().
  virtual void update_group(const Group& group, const Tensor& scalars) = 0;

  // Device-held scalar slots beyond the learning rate: reserve_scalar_slots(n) (in the
  // constructor) makes slots 1..n, all 0. scalar() reads the host mirror; set_scalar() writes
  // the mirror and the device tensor (outside a capture); count_scalar() adds 1 to the mirror only;
  // restore_state() sets mirrors only (load_state() then writes the device tensor once).
  void reserve_scalar_slots(size_t n) { scalar_mirror_.resize(1 + n, 0.0); }
  double scalar(size_t slot) const { return scalar_mirror_.at(slot); }
  void set_scalar(size_t slot, double value);
  void set_scalar_mirror(size_t slot, double value) { scalar_mirror_.at(slot) = value; }
  void count_scalar(size_t slot) { scalar_mirror_.at(slot) += 1.0; }

 private:
  // The device-held scalars for a step on `device`, made from the mirror when there are none yet
  // or they live on another device.
  const Tensor& scalars_on(Device device);
  void write_device_scalars();  // mirror -> device tensor, in place

  std::vector<Tensor> params_;
  std::vector<double> scalar_mirror_{0.0};  // slot 0: the learning rate
  Tensor device_scalars_;
  std::string name_;
  int64_t step_count_ = 0;
};

}  // namespace ember::optim
