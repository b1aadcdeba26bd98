// Optimizer: the base of every optimizer. It holds the parameter list and the learning rate,
// zeroes gradients, and runs step() under a NoGradGuard, calling update() once per parameter
// that has a gradient. Subclasses (SGD here; Adam/AdamW later) keep their per-parameter state
// in tensors they allocate on the first step and then update in place, so a step allocates
// nothing once the state exists (what a captured CUDA graph needs).
//
// Learning-rate schedules drive an optimizer through lr()/set_lr() and step_count().
// Tested in tests/test_optim.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ember::optim {

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

 protected:
  // Updates params_[index] in place from its gradient. Runs with grad mode off.
  virtual void update(size_t index, const Tensor& param, const Tensor& grad) = 0;

 private:
  std::vector<Tensor> params_;
  double lr_;
  std::string name_;
  int64_t step_count_ = 0;
};

}  // namespace ember::optim
