// Exponential moving average of weights (semantics and references in optim/ema.h).
// Tested in tests/test_optim_ema.cpp.
#include "optim/ema.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "kernels/optim.h"
#include "ops/ops.h"
#include "tensor/error.h"
#include "tensor/graph_capture.h"

namespace ember::optim {

ExponentialMovingAverage::ExponentialMovingAverage(const nn::Module& model, double decay,
                                                   bool num_updates_warmup)
    : ExponentialMovingAverage(model.named_parameters(), decay, num_updates_warmup) {}

ExponentialMovingAverage::ExponentialMovingAverage(nn::NamedTensors params, double decay,
                                                   bool num_updates_warmup)
    : params_(std::move(params)), decay_(decay), num_updates_warmup_(num_updates_warmup) {
  EMBER_CHECK(decay >= 0.0 && decay <= 1.0, "ExponentialMovingAverage: decay must be in [0, 1], ",
              "got ", decay);
  EMBER_CHECK(!params_.empty(), "ExponentialMovingAverage: no parameters to average");
  std::unordered_set<std::string> names;
  for (const auto& [name, p] : params_) {
    EMBER_CHECK(p.defined(), "ExponentialMovingAverage: parameter '", name, "' is undefined");
    EMBER_CHECK(p.dtype() == DType::Float32 || p.dtype() == DType::Float64,
                "ExponentialMovingAverage: parameter '", name, "' is ", p.describe(),
                ", not floating point");
    EMBER_CHECK(names.insert(name).second, "ExponentialMovingAverage: the name '", name,
                "' appears twice");
    shadows_.push_back(p.detach().clone());
  }
}

double ExponentialMovingAverage::next_decay() const {
  if (!num_updates_warmup_) return decay_;
  const double n = static_cast<double>(num_updates_);
  return std::min(decay_, (1.0 + n) / (10.0 + n));
}

void ExponentialMovingAverage::follow_params() {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    if (shadows_[i].device() != p.device() || shadows_[i].dtype() != p.dtype())
      shadows_[i] = convert(shadows_[i], p.dtype(), p.device());
  }
}

const Tensor& ExponentialMovingAverage::count_on(Device device) {
  if (!count_.defined() || count_.device() != device) {
    count_ = convert(from_vector<double>({static_cast<double>(num_updates_)}, {1},
                                         {.dtype = DType::Float64}),
                     DType::Float64, device);
  }
  return count_;
}

void ExponentialMovingAverage::update() {
  EMBER_CHECK(!swapped_in_, "ExponentialMovingAverage: update() while the averages are swapped ",
              "in; call restore() first");
  NoGradGuard no_grad;
  follow_params();
  // Groups by (device, dtype) in parameter order: one kernel call each.
  struct Group {
    std::vector<Tensor> shadows, params;
  };
  std::vector<Group> groups;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    Group* group = nullptr;
    for (Group& candidate : groups)
      if (candidate.params[0].device() == p.device() && candidate.params[0].dtype() == p.dtype())
        group = &candidate;
    if (group == nullptr) group = &groups.emplace_back();
    group->shadows.push_back(shadows_[i]);
    group->params.push_back(p.detach().contiguous());
  }
  bool one_device = true;
  for (const Group& group : groups)
    one_device = one_device && group.params[0].device() == groups[0].params[0].device();
  for (size_t k = 0; k < groups.size(); ++k) {
    if (!one_device) count_ = Tensor();  // each device's count is made afresh from the mirror
    // Every group reads the count before this update; the last one counts it.
    kernels::ema_update_multi(groups[k].shadows, groups[k].params,
                              count_on(groups[k].params[0].device()), 0, decay_,
                              num_updates_warmup_, /*count_update=*/k + 1 == groups.size());
  }
  if (!one_device) count_ = Tensor();
  ++num_updates_;
  // In a captured step the kernel counts on the device at every replay; the mirror follows.
  if (graph::capturing()) graph::after_each_replay([this] { ++num_updates_; });
}

void ExponentialMovingAverage::swap_in() {
  EMBER_CHECK(!swapped_in_, "ExponentialMovingAverage: swap_in() twice without restore()");
  NoGradGuard no_grad;
  follow_params();
  if (backups_.size() != params_.size()) backups_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    Tensor& b = backups_[i];
    if (!b.defined() || b.device() != p.device() || b.dtype() != p.dtype()) b = empty_like(p);
    copy_(b, p);
    copy_(p, shadows_[i]);
    p.bump_version();
  }
  swapped_in_ = true;
}

void ExponentialMovingAverage::restore() {
  EMBER_CHECK(swapped_in_, "ExponentialMovingAverage: restore() without swap_in()");
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    copy_(params_[i].second, backups_[i]);
    params_[i].second.bump_version();
  }
  swapped_in_ = false;
}

OptimizerState ExponentialMovingAverage::state() const {
  OptimizerState out;
  for (size_t i = 0; i < params_.size(); ++i)
    out.tensors.emplace_back(params_[i].first + ".shadow", shadows_[i].clone());
  out.scalars = {{"decay", decay_},
                 {"num_updates_warmup", num_updates_warmup_ ? 1.0 : 0.0},
                 {"num_updates", static_cast<double>(num_updates_)}};
  return out;
}

void ExponentialMovingAverage::load_state(const OptimizerState& state) {
  const std::string owner = "ExponentialMovingAverage";
  EMBER_CHECK(!swapped_in_, owner, ": load_state() while the averages are swapped in");
  EMBER_CHECK(state.tensors.size() == params_.size(), owner, ": the loaded state has ",
              state.tensors.size(), " averages, this model has ", params_.size(), " parameters");
  for (const auto& [name, v] : state.scalars)
    EMBER_CHECK(name == "decay" || name == "num_updates_warmup" || name == "num_updates", owner,
                ": unexpected state scalar '", name, "'");
  const double decay = state.scalar("decay", owner);
  const double warmup = state.scalar("num_updates_warmup", owner);
  const double n = state.scalar("num_updates", owner);
  EMBER_CHECK(decay == decay_, owner, ": the loaded state has decay ", decay,
              " but this average has ", decay_);
  EMBER_CHECK((warmup != 0.0) == num_updates_warmup_, owner,
              ": the loaded state has num_updates_warmup ", warmup, " but this average has ",
              num_updates_warmup_);
  EMBER_CHECK(n >= 0.0 && n == std::floor(n), owner, ": the loaded num_updates (", n,
              ") is not a count");
  // Matched by name, never by position; everything is checked before anything changes.
  std::vector<Tensor> shadows(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string name = params_[i].first + ".shadow";
    const Tensor* saved = state.find_tensor(name);
    EMBER_CHECK(saved != nullptr, owner, ": the loaded state has no '", name, "'");
    const Tensor& p = params_[i].second;
    EMBER_CHECK(saved->defined() && saved->shape() == p.shape(), owner, ": '", name, "' is ",
                saved->defined() ? saved->describe() : std::string("undefined"),
                " but the parameter is ", p.describe());
    shadows[i] = convert(*saved, p.dtype(), p.device());
  }
  shadows_ = std::move(shadows);
  num_updates_ = static_cast<int64_t>(n);
  if (count_.defined()) {  // in place: a captured update keeps reading the same tensor
    NoGradGuard no_grad;
    copy_(count_, from_vector<double>({n}, {1}, {.dtype = DType::Float64}));
  }
}

}  // namespace ember::optim
