// Learning-rate schedules (formulas and references in optim/schedule.h).
// Tested in tests/test_optim_schedule.cpp.
#include "optim/schedule.h"

#include <cmath>
#include <limits>
#include <numbers>

#include "tensor/error.h"

namespace ember::optim {

namespace {

using Config = std::vector<std::pair<std::string, double>>;

// Every scalar in `state` must be one of `config` (or of `extra`), and every config value must
// be present and equal.
void check_config(const std::string& owner, const Config& config, const OptimizerState& state,
                  const std::vector<std::string>& extra = {}) {
  EMBER_CHECK(state.tensors.empty(), owner, ": the loaded state has tensors ('",
              state.tensors.front().first, "'), a schedule keeps none");
  for (const auto& [name, value] : state.scalars) {
    bool known = false;
    for (const auto& [n, v] : config) known = known || n == name;
    for (const std::string& n : extra) known = known || n == name;
    EMBER_CHECK(known, owner, ": unexpected state scalar '", name, "'");
  }
  for (const auto& [name, value] : config) {
    const double saved = state.scalar(name, owner);
    EMBER_CHECK(saved == value, owner, ": the loaded state has ", name, " = ", saved,
                " but this schedule has ", value);
  }
}

}  // namespace

double LrSchedule::apply(Optimizer& optimizer, int64_t t) const {
  const double lr = lr_at(t);
  optimizer.set_lr(lr);
  return lr;
}

OptimizerState LrSchedule::state() const { return {{}, config()}; }

void LrSchedule::load_state(const OptimizerState& state) const {
  check_config(name(), config(), state);
}

ConstantLr::ConstantLr(double lr) : lr_(lr) {
  EMBER_CHECK(lr >= 0.0, "ConstantLr: lr must be >= 0, got ", lr);
}

double ConstantLr::lr_at(int64_t t) const {
  EMBER_CHECK(t >= 0, "ConstantLr: t must be >= 0, got ", t);
  return lr_;
}

Config ConstantLr::config() const { return {{"lr", lr_}}; }

StepLr::StepLr(double base_lr, int64_t step_size, double gamma)
    : base_lr_(base_lr), step_size_(step_size), gamma_(gamma) {
  EMBER_CHECK(base_lr >= 0.0, "StepLr: base_lr must be >= 0, got ", base_lr);
  EMBER_CHECK(step_size >= 1, "StepLr: step_size must be >= 1, got ", step_size);
  EMBER_CHECK(gamma > 0.0, "StepLr: gamma must be > 0, got ", gamma);
}

double StepLr::lr_at(int64_t t) const {
  EMBER_CHECK(t >= 0, "StepLr: t must be >= 0, got ", t);
  return base_lr_ * std::pow(gamma_, static_cast<double>(t / step_size_));
}

Config StepLr::config() const {
  return {{"base_lr", base_lr_}, {"step_size", static_cast<double>(step_size_)}, {"gamma", gamma_}};
}

WarmupCosineLr::WarmupCosineLr(double base_lr, int64_t warmup, int64_t total, double min_lr)
    : base_lr_(base_lr), warmup_(warmup), total_(total), min_lr_(min_lr) {
  EMBER_CHECK(base_lr >= 0.0, "WarmupCosineLr: base_lr must be >= 0, got ", base_lr);
  EMBER_CHECK(warmup >= 0, "WarmupCosineLr: warmup must be >= 0, got ", warmup);
  EMBER_CHECK(total > warmup, "WarmupCosineLr: total (", total, ") must exceed warmup (", warmup,
              ")");
  EMBER_CHECK(min_lr >= 0.0 && min_lr <= base_lr, "WarmupCosineLr: min_lr must be in [0, base_lr",
              " = ", base_lr, "], got ", min_lr);
}

double WarmupCosineLr::lr_at(int64_t t) const {
  EMBER_CHECK(t >= 0, "WarmupCosineLr: t must be >= 0, got ", t);
  if (t < warmup_)
    return base_lr_ * static_cast<double>(t + 1) / static_cast<double>(warmup_ + 1);
  const double q = std::min(1.0, static_cast<double>(t - warmup_) /
                                     static_cast<double>(total_ - warmup_));
  return min_lr_ + (base_lr_ - min_lr_) * 0.5 * (1.0 + std::cos(std::numbers::pi * q));
}

Config WarmupCosineLr::config() const {
  return {{"base_lr", base_lr_},
          {"warmup", static_cast<double>(warmup_)},
          {"total", static_cast<double>(total_)},
          {"min_lr", min_lr_}};
}

ReduceLrOnPlateau::ReduceLrOnPlateau(const PlateauOptions& options) : options_(options) {
  EMBER_CHECK(options.factor > 0.0 && options.factor < 1.0,
              "ReduceLrOnPlateau: factor must be in (0, 1), got ", options.factor);
  EMBER_CHECK(options.patience >= 0, "ReduceLrOnPlateau: patience must be >= 0, got ",
              options.patience);
  EMBER_CHECK(options.threshold >= 0.0, "ReduceLrOnPlateau: threshold must be >= 0, got ",
              options.threshold);
  EMBER_CHECK(options.cooldown >= 0, "ReduceLrOnPlateau: cooldown must be >= 0, got ",
              options.cooldown);
  EMBER_CHECK(options.min_lr >= 0.0, "ReduceLrOnPlateau: min_lr must be >= 0, got ",
              options.min_lr);
  EMBER_CHECK(options.eps >= 0.0, "ReduceLrOnPlateau: eps must be >= 0, got ", options.eps);
  const double inf = std::numeric_limits<double>::infinity();
  best_ = options.mode == PlateauOptions::Mode::Min ? inf : -inf;
}

bool ReduceLrOnPlateau::is_better(double metric) const {
  const bool rel = options_.threshold_mode == PlateauOptions::ThresholdMode::Rel;
  const double th = options_.threshold;
  if (options_.mode == PlateauOptions::Mode::Min)
    return metric < (rel ? best_ * (1.0 - th) : best_ - th);
  return metric > (rel ? best_ * (1.0 + th) : best_ + th);
}

bool ReduceLrOnPlateau::step(Optimizer& optimizer, double metric) {
  EMBER_CHECK(!std::isnan(metric), "ReduceLrOnPlateau: the metric of epoch ", epochs_, " is NaN");
  ++epochs_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs during the cooldown do not count
  }
  if (num_bad_epochs_ <= options_.patience) return false;
  cooldown_counter_ = options_.cooldown;
  num_bad_epochs_ = 0;
  const double old_lr = optimizer.lr();
  const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
  if (old_lr - new_lr <= options_.eps) return false;
  optimizer.set_lr(new_lr);
  return true;
}

Config ReduceLrOnPlateau::config() const {
  return {{"mode_max", options_.mode == PlateauOptions::Mode::Max ? 1.0 : 0.0},
          {"factor", options_.factor},
          {"patience", static_cast<double>(options_.patience)},
          {"threshold", options_.threshold},
          {"threshold_abs",
           options_.threshold_mode == PlateauOptions::ThresholdMode::Abs ? 1.0 : 0.0},
          {"cooldown", static_cast<double>(options_.cooldown)},
          {"min_lr", options_.min_lr},
          {"eps", options_.eps}};
}

OptimizerState ReduceLrOnPlateau::state() const {
  OptimizerState out{{}, config()};
  out.scalars.emplace_back("best", best_);
  out.scalars.emplace_back("num_bad_epochs", static_cast<double>(num_bad_epochs_));
  out.scalars.emplace_back("cooldown_counter", static_cast<double>(cooldown_counter_));
  out.scalars.emplace_back("epochs", static_cast<double>(epochs_));
  return out;
}

void ReduceLrOnPlateau::load_state(const OptimizerState& state) {
  const std::string owner = "ReduceLrOnPlateau";
  check_config(owner, config(), state, {"best", "num_bad_epochs", "cooldown_counter", "epochs"});
  const double best = state.scalar("best", owner);
  const double bad = state.scalar("num_bad_epochs", owner);
  const double cooldown = state.scalar("cooldown_counter", owner);
  const double epochs = state.scalar("epochs", owner);
  for (const auto& [n, v] : {std::pair{"num_bad_epochs", bad}, std::pair{"cooldown_counter", cooldown},
                             std::pair{"epochs", epochs}})
    EMBER_CHECK(v >= 0.0 && v == std::floor(v), owner, ": the loaded ", n, " (", v,
                ") is not a count");
  EMBER_CHECK(!std::isnan(best), owner, ": the loaded best metric is NaN");
  best_ = best;
  num_bad_epochs_ = static_cast<int64_t>(bad);
  cooldown_counter_ = static_cast<int64_t>(cooldown);
  epochs_ = static_cast<int64_t>(epochs);
}

}  // namespace ember::optim
