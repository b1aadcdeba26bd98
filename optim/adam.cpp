// Adam / AdamW updates in place (formula in optim/adam.h, kernel kernels::adam_step_multi) and
// their state save/load. Tested in tests/test_optim_adam.cpp and tests/test_optim_state.cpp.
#include "optim/adam.h"

#include <cmath>

#include "kernels/optim.h"
#include "ops/ops.h"
#include "tensor/error.h"

namespace ember::optim {

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options)
    : Adam(std::move(params), options, /*decoupled=*/false, "Adam") {}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled,
           const char* name)
    : Optimizer(std::move(params), options.lr, name), options_(options), decoupled_(decoupled) {
  EMBER_CHECK(options.beta1 >= 0.0 && options.beta1 < 1.0, this->name(),
              ": beta1 must be in [0, 1), got ", options.beta1);
  EMBER_CHECK(options.beta2 >= 0.0 && options.beta2 < 1.0, this->name(),
              ": beta2 must be in [0, 1), got ", options.beta2);
  EMBER_CHECK(options.eps >= 0.0, this->name(), ": eps must be >= 0, got ", options.eps);
  EMBER_CHECK(options.weight_decay >= 0.0, this->name(), ": weight_decay must be >= 0, got ",
              options.weight_decay);
  states_.resize(this->params().size());
  reserve_scalar_slots(states_.size());  // slot 1 + i: parameter i's step count
}

AdamW::AdamW(std::vector<Tensor> params, const AdamOptions& options)
    : Adam(std::move(params), options, /*decoupled=*/true, "AdamW") {}

void Adam::update_group(const Group& group, const Tensor& scalars) {
  std::vector<Tensor> exp_avgs, exp_avg_sqs;
  std::vector<int64_t> step_slots;
  for (size_t k = 0; k < group.indices.size(); ++k) {
    const size_t index = group.indices[k];
    const Tensor& p = group.params[k];
    ParamState& s = states_[index];
    if (s.exp_avg.defined() &&
        (s.exp_avg.device() != p.device() || s.exp_avg.dtype() != p.dtype())) {
      // The model was moved (module.to) after a step: the moments follow it.
      s.exp_avg = convert(s.exp_avg, p.dtype(), p.device());
      s.exp_avg_sq = convert(s.exp_avg_sq, p.dtype(), p.device());
    }
    if (!s.exp_avg.defined()) {
      s.exp_avg = zeros_like(p);  // PyTorch starts both moments at zero
      s.exp_avg_sq = zeros_like(p);
    }
    exp_avgs.push_back(s.exp_avg);
    exp_avg_sqs.push_back(s.exp_avg_sq);
    step_slots.push_back(static_cast<int64_t>(1 + index));
  }
  // The kernel counts the steps on the device; the mirror follows.
  kernels::adam_step_multi(group.params, group.grads, exp_avgs, exp_avg_sqs, scalars, step_slots,
                           options_.beta1, options_.beta2, options_.eps, options_.weight_decay,
                           decoupled_);
  for (const int64_t slot : step_slots) count_scalar(static_cast<size_t>(slot));
}

void Adam::save_state(OptimizerState& out) const {
  for (size_t i = 0; i < states_.size(); ++i) {
    const ParamState& s = states_[i];
    if (!s.exp_avg.defined()) continue;
    const std::string prefix = std::to_string(i) + ".";
    out.tensors.emplace_back(prefix + "exp_avg", s.exp_avg.clone());
    out.tensors.emplace_back(prefix + "exp_avg_sq", s.exp_avg_sq.clone());
    out.scalars.emplace_back(prefix + "step", scalar(1 + i));
  }
}

void Adam::check_state(const OptimizerState& state) const {
  // Every parameter with state has all three entries, and nothing else is present.
  std::vector<int> seen(params().size(), 0);  // bit 0 exp_avg, bit 1 exp_avg_sq, bit 2 step
  for (const auto& [name, t] : state.tensors) {
    const auto [index, field] = parse_param_entry(name);
    EMBER_CHECK(field == "exp_avg" || field == "exp_avg_sq", this->name(), ": unexpected state entry '",
                name, "' (expected <index>.exp_avg or <index>.exp_avg_sq)");
    restore_like_param(t, index, name);  // checks the shape
    seen[index] |= field == "exp_avg" ? 1 : 2;
  }
  for (const auto& [name, v] : state.scalars) {
    if (name == "num_params" || name == "lr" || name == "step_count") continue;
    EMBER_CHECK(name.find('.') != std::string::npos, this->name(), ": unexpected state scalar '",
                name, "'");
    const auto [index, field] = parse_param_entry(name);
    EMBER_CHECK(field == "step", this->name(), ": unexpected state scalar '", name, "'");
    EMBER_CHECK(v >= 1.0 && v == std::floor(v), this->name(), ": state scalar '", name, "' is ",
                v, ", not a step count >= 1");
    seen[index] |= 4;
  }
  for (size_t i = 0; i < seen.size(); ++i)
    EMBER_CHECK(seen[i] == 0 || seen[i] == 7, this->name(), ": the loaded state of parameter ", i,
                " is incomplete (needs ", i, ".exp_avg, ", i, ".exp_avg_sq and ", i, ".step)");
}

void Adam::restore_state(const OptimizerState& state) {
  std::vector<ParamState> states(states_.size());
  for (const auto& [name, t] : state.tensors) {
    const auto [index, field] = parse_param_entry(name);
    (field == "exp_avg" ? states[index].exp_avg : states[index].exp_avg_sq) =
        restore_like_param(t, index, name);
  }
  std::vector<double> steps(states_.size(), 0.0);  // 0 for parameters without state
  for (const auto& [name, v] : state.scalars) {
    if (name == "num_params" || name == "lr" || name == "step_count") continue;
    steps[parse_param_entry(name).first] = v;
  }
  states_ = std::move(states);
  for (size_t i = 0; i < steps.size(); ++i) set_scalar_mirror(1 + i, steps[i]);
}

}  // namespace ember::optim
