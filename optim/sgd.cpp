// SGD update, in place: one multi-tensor kernel call per (device, dtype) group of parameters
// (kernels::sgd_step_multi, the formula of sgd.h), on the parameters' device. Tested in tests/test_optim.cpp (suites Sgd, SgdKernel) and
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

void SGD::update_group(const Group& group, const Tensor& scalars) {
  std::vector<Tensor> buffers;
  std::vector<uint8_t> first_step(group.indices.size(), 0);
  if (options_.momentum != 0.0) {
    for (size_t k = 0; k < group.indices.size(); ++k) {
      const Tensor& p = group.params[k];
      Tensor& b = momentum_buffers_[group.indices[k]];
      if (b.defined() && (b.device() != p.device() || b.dtype() != p.dtype())) {
        b = convert(b, p.dtype(), p.device());  // the model was moved (module.to) after a step
      }
      if (!b.defined()) {
        b = empty_like(p);  // its contents are ignored on the first step
        first_step[k] = 1;
      }
      buffers.push_back(b);
    }
  }
  kernels::sgd_step_multi(group.params, group.grads, buffers, first_step, scalars,
                          options_.momentum, options_.dampening, options_.weight_decay,
                          options_.nesterov);
}

void SGD::save_state(OptimizerState& out) const {
  for (size_t i = 0; i < momentum_buffers_.size(); ++i)
    if (momentum_buffers_[i].defined())
      out.tensors.emplace_back(std::to_string(i) + ".momentum_buffer", momentum_buffers_[i].clone());
}

void SGD::check_state(const OptimizerState& state) const {
  for (const auto& [name, t] : state.tensors) {
    const auto [index, field] = parse_param_entry(name);
    EMBER_CHECK(field == "momentum_buffer", "SGD: unexpected state entry '", name,
                "' (SGD keeps only <index>.momentum_buffer)");
    EMBER_CHECK(options_.momentum != 0.0, "SGD: the loaded state has momentum buffers ('", name,
                "') but this optimizer has momentum 0");
    restore_like_param(t, index, name);  // checks the shape
  }
  for (const auto& [name, v] : state.scalars)
    EMBER_CHECK(name == "num_params" || name == "lr" || name == "step_count",
                "SGD: unexpected state scalar '", name, "'");
}

void SGD::restore_state(const OptimizerState& state) {
  std::vector<Tensor> buffers(momentum_buffers_.size());
  for (const auto& [name, t] : state.tensors) {
    const size_t index = parse_param_entry(name).first;
    buffers[index] = restore_like_param(t, index, name);
  }
  momentum_buffers_ = std::move(buffers);
}

}  // namespace ember::optim
