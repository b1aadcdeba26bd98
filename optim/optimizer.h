// Optimizer: the base of every optimizer. It holds the parameter list and the learning rate,
// zeroes gradients, and runs step() under a NoGradGuard, calling update() once per parameter
// that has a gradient. Subclasses (SGD here; Adam/AdamW later) keep their per-parameter state
// in tensors they allocate on the first step and then update in place, so a step allocates
// nothing once the state exists (what a captured CUDA graph needs).
//
// Learning-rate schedules drive an optimizer through lr()/set_lr() and step_count().
// state()/load_state() save and restore everything a resumed run needs (OptimizerState below).
// Tested in tests/test_optim.cpp and tests/test_optim_state.cpp.
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
  // PyTorch), then counts the step.
  void step();
  // Zeroes every .grad in place (same memory), or drops them when set_to_none.
  void zero_grad(bool set_to_none = false);

  double lr() const { return lr_; }
  void set_lr(double lr);
  int64_t step_count() const { return step_count_; }  // completed steps
  const std::vector<Tensor>& params() const { return params_; }
  const std::string& name() const { return name_; }

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

  // Updates params_[index] in place from its gradient. Runs with grad mode off.
  virtual void update(size_t index, const Tensor& param, const Tensor& grad) = 0;

 private:
  std::vector<Tensor> params_;
  double lr_;
  std::string name_;
  int64_t step_count_ = 0;
};

}  // namespace ember::optim
