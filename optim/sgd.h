// SGD with momentum, dampening, Nesterov momentum and L2 weight decay, with PyTorch's
// torch.optim.SGD semantics:
//   d = g + weight_decay * p
//   b = d                                   (first step)
//   b = momentum * b + (1 - dampening) * d  (later steps)
//   d = d + momentum * b  (nesterov)   or   d = b  (momentum > 0)
//   p = p - lr * d
// Parameters and momentum buffers are updated in place by one multi-tensor kernel call per
// (device, dtype) group (kernels::sgd_step_multi) reading the learning rate from the device-held
// scalars (optim/optimizer.h); the only allocation is each momentum buffer, on its parameter's
// first step.
// State (state()/load_state()): "<i>.momentum_buffer" for every parameter that has one.
// Tested in tests/test_optim.cpp (suite Sgd) against hand computations, and
// tests/test_optim_state.cpp (save/load).
#pragma once
#include "optim/optimizer.h"

namespace ember::optim {

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options = {});
  const SGDOptions& options() const { return options_; }
  // The momentum buffer of parameter i: undefined before its first update or without momentum.
  const Tensor& momentum_buffer(size_t i) const { return momentum_buffers_.at(i); }

 protected:
  void update_group(const Group& group, const Tensor& scalars) override;
  void save_state(OptimizerState& out) const override;
  void check_state(const OptimizerState& state) const override;
  void restore_state(const OptimizerState& state) override;

 private:
  SGDOptions options_;
  std::vector<Tensor> momentum_buffers_;
};

}  // namespace ember::optim
