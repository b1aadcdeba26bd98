// SGD update, in place: one fused kernel per parameter (kernels::sgd_step, the formula of
// sgd.h), on the parameter's device. Tested in tests/test_optim.cpp (suites Sgd, SgdKernel) and
// tests/test_cuda_optim.cpp.
#include "optim/sgd.h"

#include "kernels/optim.h"
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
  Tensor& b = momentum_buffers_[index];
  bool first_step = false;
  if (options_.momentum != 0.0) {
    if (b.defined() && (b.device() != p.device() || b.dtype() != p.dtype())) {
      b = convert(b, p.dtype(), p.device());  // the model was moved (module.to) after a step
    }
    if (!b.defined()) {
      b = empty_like(p);  // its contents are ignored on the first step
      first_step = true;
    }
  }
  kernels::sgd_step(p, g.contiguous(), b, lr(), options_.momentum, options_.dampening,
                    options_.weight_decay, options_.nesterov, first_step);
}

}  // namespace ember::optim
