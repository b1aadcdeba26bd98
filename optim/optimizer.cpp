// Optimizer base: parameter checks, the step (grouping by device and dtype) under NoGradGuard,
// the device-held scalars and their host mirror, zero_grad.
// Tested in tests/test_optim.cpp (suite Optimizer) and tests/test_optim_multi.cpp.
#include "optim/optimizer.h"

#include <cmath>
#include <string>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "nn/module.h"
#include "tensor/error.h"
#include "tensor/graph_capture.h"
#include "tensor/profiler.h"

namespace ember::optim {

Optimizer::Optimizer(std::vector<Tensor> params, double lr, const char* name)
    : params_(std::move(params)), name_(name) {
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
  set_scalar(0, lr);
}

void Optimizer::set_scalar(size_t slot, double value) {
  graph::check_not_capturing("setting an optimizer's learning rate or counters");
  // The device tensor always equals the mirror, so an unchanged value (a schedule applied every
  // epoch at a constant rate) needs no host-to-device copy, which would wait for the host.
  if (scalar_mirror_.at(slot) == value) return;
  scalar_mirror_.at(slot) = value;
  if (device_scalars_.defined()) {
    NoGradGuard no_grad;
    const int64_t s = static_cast<int64_t>(slot);
    copy_(device_scalars_.slice(0, s, s + 1),
          from_vector<double>({value}, {1}, {.dtype = DType::Float64}));
  }
}

void Optimizer::write_device_scalars() {
  if (!device_scalars_.defined()) return;
  const int64_t n = static_cast<int64_t>(scalar_mirror_.size());
  copy_(device_scalars_, from_vector<double>(scalar_mirror_, {n}, {.dtype = DType::Float64}));
}

const Tensor& Optimizer::scalars_on(Device device) {
  if (!device_scalars_.defined() || device_scalars_.device() != device) {
    const int64_t n = static_cast<int64_t>(scalar_mirror_.size());
    device_scalars_ = convert(from_vector<double>(scalar_mirror_, {n}, {.dtype = DType::Float64}),
                              DType::Float64, device);
  }
  return device_scalars_;
}

void Optimizer::step() {
  const profiler::Range range("optimizer step");
  NoGradGuard no_grad;
  std::vector<Group> groups;  // by (device, dtype), in order of first appearance
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    EMBER_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device(),
                name_, ": the gradient ", g.describe(), " of parameter ", i, " does not match it (",
                p.describe(), ")");
    Group* group = nullptr;
    for (Group& candidate : groups)
      if (candidate.params[0].device() == p.device() && candidate.params[0].dtype() == p.dtype())
        group = &candidate;
    if (group == nullptr) group = &groups.emplace_back();
    group->indices.push_back(i);
    group->params.push_back(p);
    group->grads.push_back(g.contiguous());
  }
  bool one_device = true;
  for (const Group& group : groups)
    one_device = one_device && group.params[0].device() == groups[0].params[0].device();
  // Only a capture needs the mirror's counts of this step (below): no copy on eager steps.
  const bool capturing = graph::capturing();
  const std::vector<double> mirror_before = capturing ? scalar_mirror_ : std::vector<double>{};
  for (const Group& group : groups) {
    // Each device's scalars hold current counts only for that device's parameters, so with
    // several devices every group gets a fresh tensor made from the mirror.
    if (!one_device) device_scalars_ = Tensor();
    update_group(group, scalars_on(group.params[0].device()));
  }
  ++step_count_;
  if (capturing) {
    // A replay runs the kernels, which count on the device; the host mirror counts with them.
    std::vector<double> counted(scalar_mirror_.size());
    for (size_t i = 0; i < counted.size(); ++i) counted[i] = scalar_mirror_[i] - mirror_before[i];
    graph::after_each_replay([this, counted] {
      for (size_t i = 0; i < counted.size(); ++i) scalar_mirror_[i] += counted[i];
      ++step_count_;
    });
  }
}

double OptimizerState::scalar(const std::string& name, const std::string& owner) const {
  for (const auto& [n, v] : scalars)
    if (n == name) return v;
  std::string present;
  for (const auto& [n, v] : scalars) present += (present.empty() ? "" : ", ") + n;
  EMBER_FAIL(owner, ": the loaded state has no scalar '", name, "' (it has: ",
             present.empty() ? "none" : present, ")");
}

bool OptimizerState::has_scalar(const std::string& name) const {
  for (const auto& [n, v] : scalars)
    if (n == name) return true;
  return false;
}

const Tensor* OptimizerState::find_tensor(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

OptimizerState Optimizer::state() const {
  OptimizerState out;
  out.scalars = {{"num_params", static_cast<double>(params_.size())},
                 {"lr", lr()},
                 {"step_count", static_cast<double>(step_count_)}};
  save_state(out);
  return out;
}

void Optimizer::load_state(const OptimizerState& state) {
  const double count = state.scalar("num_params", name_);
  EMBER_CHECK(count == static_cast<double>(params_.size()), name_, ": the loaded state is for ",
              count, " parameters, this optimizer has ", params_.size());
  const double lr = state.scalar("lr", name_);
  const double steps = state.scalar("step_count", name_);
  EMBER_CHECK(lr >= 0.0, name_, ": the loaded learning rate ", lr, " is negative");
  EMBER_CHECK(steps >= 0.0 && steps == std::floor(steps), name_,
              ": the loaded step_count ", steps, " is not a count");
  std::unordered_set<std::string> names;
  for (const auto& [n, t] : state.tensors)
    EMBER_CHECK(names.insert(n).second, name_, ": the loaded state has tensor '", n, "' twice");
  names.clear();
  for (const auto& [n, v] : state.scalars)
    EMBER_CHECK(names.insert(n).second, name_, ": the loaded state has scalar '", n, "' twice");
  check_state(state);
  restore_state(state);
  scalar_mirror_[0] = lr;
  step_count_ = static_cast<int64_t>(steps);
  NoGradGuard no_grad;
  write_device_scalars();
}

std::pair<size_t, std::string> Optimizer::parse_param_entry(const std::string& name) const {
  const size_t dot = name.find('.');
  EMBER_CHECK(dot != std::string::npos && dot > 0, name_, ": unexpected state entry '", name,
              "' (per-parameter entries are named <index>.<field>)");
  size_t index = 0;
  for (size_t i = 0; i < dot; ++i) {
    EMBER_CHECK(name[i] >= '0' && name[i] <= '9', name_, ": unexpected state entry '", name,
                "' (per-parameter entries are named <index>.<field>)");
    index = index * 10 + static_cast<size_t>(name[i] - '0');
    EMBER_CHECK(index < (size_t{1} << 40), name_, ": state entry '", name, "' has a huge index");
  }
  EMBER_CHECK(index < params_.size(), name_, ": state entry '", name, "' names parameter ", index,
              " but this optimizer has ", params_.size());
  return {index, name.substr(dot + 1)};
}

Tensor Optimizer::restore_like_param(const Tensor& saved, size_t index,
                                     const std::string& name) const {
  const Tensor& p = params_[index];
  EMBER_CHECK(saved.defined(), name_, ": state entry '", name, "' is an undefined tensor");
  EMBER_CHECK(saved.shape() == p.shape(), name_, ": state entry '", name, "' is ",
              saved.describe(), " but parameter ", index, " is ", p.describe());
  return convert(saved, p.dtype(), p.device());  // always a fresh contiguous copy
}

void Optimizer::zero_grad(bool set_to_none) { nn::zero_grad(params_, set_to_none); }

}  // namespace ember::optim
