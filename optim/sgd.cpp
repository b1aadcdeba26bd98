// SGD update, in place. The formula (see sgd.h) is rearranged so that no temporary is needed:
// the weight-decay term of d is applied to p (or b) directly, since d itself is never stored.
// Tested in tests/test_optim.cpp (suite Sgd).
#include "optim/sgd.h"

#include "ops/elementwise.h"
#include "tensor/error.h"

namespace ember::optim {

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : Optimizer(std::move(params), options.lr, "SGD"), options_(options) {
  EMBER_CHECK(options.momentum >= 0.0, "SGD: momentum must be >= 0, got ", options.momentum);
  EMBER_CHECK(options.weight_decay >= 0.0, "SGD: weight_decay must be >= 0, got ",
              options.weight_decay);
  EMBER_CHECK(!options.nesterov || (options.momentum > 0.0 && options.dampening == 0.0),
              "SGD: Nesterov momentum needs momentum > 0 and dampening 0 (got momentum ",
              options.momentum, ", dampening ", options.dampening, ")");
  momentum_buffers_.resize(this->params().size());
}

void SGD::update(size_t index, const Tensor& p, const Tensor& g) {
  const double lr = this->lr();
  const double mu = options_.momentum;
  const double wd = options_.weight_decay;

  if (mu == 0.0) {
    // p <- p - lr * (g + wd * p) = (1 - lr * wd) * p - lr * g
    if (wd != 0.0) mul_(p, 1.0 - lr * wd);
    add_(p, g, -lr);
    return;
  }

  // b <- d on the first step, else mu * b + (1 - dampening) * d, with d = g + wd * p.
  Tensor& b = momentum_buffers_[index];
  if (b.defined() && (b.device() != p.device() || b.dtype() != p.dtype())) {
    b = convert(b, p.dtype(), p.device());  // the model was moved (module.to) after a step
  }
  if (!b.defined()) {
    b = empty_like(p);
    copy_(b, g);
    if (wd != 0.0) add_(b, p, wd);
  } else {
    const double keep = 1.0 - options_.dampening;
    mul_(b, mu);
    add_(b, g, keep);
    if (wd != 0.0) add_(b, p, keep * wd);
  }

  if (options_.nesterov) {
    // p <- p - lr * (d + mu * b) = (1 - lr * wd) * p - lr * g - lr * mu * b
    if (wd != 0.0) mul_(p, 1.0 - lr * wd);
    add_(p, g, -lr);
    add_(p, b, -lr * mu);
  } else {
    add_(p, b, -lr);
  }
}

}  // namespace ember::optim
