// Optimizer base: parameter checks, the step loop under NoGradGuard, zero_grad.
// Tested in tests/test_optim.cpp (suite Optimizer).
#include "optim/optimizer.h"

#include <unordered_set>

#include "autograd/grad_mode.h"
#include "nn/module.h"
#include "tensor/error.h"

namespace ember::optim {

Optimizer::Optimizer(std::vector<Tensor> params, double lr, const char* name)
    : params_(std::move(params)), lr_(lr), name_(name) {
  EMBER_CHECK(!params_.empty(), name_, ": got an empty parameter list");
  std::unordered_set<const TensorImpl*> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    EMBER_CHECK(p.defined(), name_, ": parameter ", i, " is an undefined tensor");
    EMBER_CHECK(p.is_leaf() && p.requires_grad(), name_, ": parameter ", i, " (", p.describe(),
                ") must be a leaf that requires grad");
    EMBER_CHECK(seen.insert(p.impl()).second, name_, ": parameter ", i, " (", p.describe(),
                ") appears more than once");
  }
  set_lr(lr);
}

void Optimizer::set_lr(double lr) {
  EMBER_CHECK(lr >= 0.0, name_, ": learning rate must be >= 0, got ", lr);
  lr_ = lr;
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    EMBER_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device(),
                name_, ": the gradient ", g.describe(), " of parameter ", i, " does not match it (",
                p.describe(), ")");
    update(i, p, g);
  }
  ++step_count_;
}

void Optimizer::zero_grad(bool set_to_none) { nn::zero_grad(params_, set_to_none); }

}  // namespace ember::optim
