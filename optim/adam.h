// Adam and AdamW with PyTorch's torch.optim.Adam / torch.optim.AdamW semantics (amsgrad off).
// For each parameter p with gradient g, at its step t = 1, 2, ... (counted per parameter):
//   Adam  (coupled L2):       g = g + weight_decay * p
//   AdamW (decoupled decay):  p = p * (1 - lr * weight_decay)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// One multi-tensor kernel call per (device, dtype) group of parameters (kernels::adam_step_multi,
// the formula of kernels/optim_step.h): the learning rate and each parameter's step t are
// device-held scalars (optim/optimizer.h; parameter i's t in slot 1 + i, incremented on the
// device), so the bias corrections are computed on the device. The state of a parameter (exp_avg
// m, exp_avg_sq v) is created on its first update and follows the parameter when the model is
// moved (module.to) after a step.
// State (state()/load_state()): per parameter that has stepped, "<i>.exp_avg", "<i>.exp_avg_sq"
// (tensors) and "<i>.step" (scalar).
// Tested in tests/test_optim_adam.cpp against hand computations over three steps, and
// tests/test_optim_state.cpp (save/load, continue against resume).
#pragma once
#include "optim/optimizer.h"

namespace ember::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // Adam: L2 added to the gradient; AdamW: decoupled shrinkage
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, const AdamOptions& options = {});
  const AdamOptions& options() const { return options_; }
  bool decoupled() const { return decoupled_; }
  // Parameter i's moments (undefined before its first update) and its step count.
  const Tensor& exp_avg(size_t i) const { return states_.at(i).exp_avg; }
  const Tensor& exp_avg_sq(size_t i) const { return states_.at(i).exp_avg_sq; }
  int64_t param_step(size_t i) const {
    states_.at(i);  // the same out-of-range error as the moments' accessors
    return static_cast<int64_t>(scalar(1 + i));  // the host mirror of the device-held count
  }

 protected:
  // AdamW's constructor: the same update with decoupled weight decay.
  Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled, const char* name);
  void update_group(const Group& group, const Tensor& scalars) override;
  void save_state(OptimizerState& out) const override;
  void check_state(const OptimizerState& state) const override;
  void restore_state(const OptimizerState& state) override;

 private:
  struct ParamState {
    Tensor exp_avg, exp_avg_sq;
  };
  AdamOptions options_;
  bool decoupled_;
  std::vector<ParamState> states_;
};

// AdamW: PyTorch's default weight_decay for AdamW is 0.01, so AdamW's options default to it.
struct AdamWOptions : AdamOptions {
  AdamWOptions() { weight_decay = 0.01; }
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, const AdamOptions& options = AdamWOptions());
};

}  // namespace ember::optim
