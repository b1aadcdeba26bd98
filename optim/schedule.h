// Learning-rate schedules. An LrSchedule is a pure function of the epoch (or step) index t,
// counted from 0: lr_at(t) returns the rate and apply(optimizer, t) also sets it. The caller
// chooses whether t counts epochs or steps. Formulas (b = base_lr):
//   ConstantLr:     lr(t) = b
//   StepLr:         lr(t) = b * gamma^floor(t / step_size)          (torch.optim.lr_scheduler.StepLR)
//   WarmupCosineLr: lr(t) = b * (t + 1) / (warmup + 1)                          for t < warmup
//                   lr(t) = min_lr + (b - min_lr) * (1 + cos(pi * q)) / 2,
//                           q = min(1, (t - warmup) / (total - warmup))        for t >= warmup
//     i.e. a linear ramp that would reach b at t = warmup, then half a cosine from b at
//     t = warmup to min_lr at t = total (and min_lr after it); warmup = 0 gives plain cosine
//     annealing (torch's CosineAnnealingLR with T_max = total, eta_min = min_lr).
// ReduceLrOnPlateau follows torch.optim.lr_scheduler.ReduceLROnPlateau (not Keras, whose
// min_delta is absolute and whose patience counts ">=", not ">"); see the class.
//
// state()/load_state(): the stateless schedules save their configuration, and loading checks it
// matches (a resumed run with another schedule is a mistake worth an error); ReduceLrOnPlateau
// also saves its counters. Tested in tests/test_optim_schedule.cpp (values at chosen epochs,
// the plateau logic step by step, save/load).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "optim/optimizer.h"

namespace ember::optim {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual double lr_at(int64_t t) const = 0;
  // Sets optimizer's learning rate to lr_at(t) and returns it.
  double apply(Optimizer& optimizer, int64_t t) const;
  virtual std::string name() const = 0;
  OptimizerState state() const;
  void load_state(const OptimizerState& state) const;

 protected:
  // The configuration as named scalars (what state() saves and load_state() compares).
  virtual std::vector<std::pair<std::string, double>> config() const = 0;
};

class ConstantLr : public LrSchedule {
 public:
  explicit ConstantLr(double lr);
  double lr_at(int64_t t) const override;
  std::string name() const override { return "ConstantLr"; }

 protected:
  std::vector<std::pair<std::string, double>> config() const override;

 private:
  double lr_;
};

class StepLr : public LrSchedule {
 public:
  StepLr(double base_lr, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t t) const override;
  std::string name() const override { return "StepLr"; }

 protected:
  std::vector<std::pair<std::string, double>> config() const override;

 private:
  double base_lr_;
  int64_t step_size_;
  double gamma_;
};

class WarmupCosineLr : public LrSchedule {
 public:
  WarmupCosineLr(double base_lr, int64_t warmup, int64_t total, double min_lr = 0.0);
  double lr_at(int64_t t) const override;
  std::string name() const override { return "WarmupCosineLr"; }

 protected:
  std::vector<std::pair<std::string, double>> config() const override;

 private:
  double base_lr_;
  int64_t warmup_, total_;
  double min_lr_;
};

struct PlateauOptions {
  enum class Mode { Min, Max };  // a lower (loss) or higher (accuracy) metric is better
  enum class ThresholdMode { Rel, Abs };
  Mode mode = Mode::Min;
  double factor = 0.1;    // new_lr = max(lr * factor, min_lr)
  int64_t patience = 10;  // bad epochs tolerated; the rate drops on bad epoch patience + 1
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::Rel;
  int64_t cooldown = 0;   // epochs after a reduction during which bad epochs are not counted
  double min_lr = 0.0;
  double eps = 1e-8;      // reductions smaller than this are skipped
};

// torch.optim.lr_scheduler.ReduceLROnPlateau. Each step(optimizer, metric), once per epoch:
//   better = metric < best * (1 - threshold)   (min, rel)   | metric < best - threshold (min, abs)
//            metric > best * (1 + threshold)   (max, rel)   | metric > best + threshold (max, abs)
//   if better: best = metric, bad = 0   else bad += 1
//   if cooldown_counter > 0: cooldown_counter -= 1, bad = 0
//   if bad > patience: lr = max(lr * factor, min_lr) (only if that lowers it by more than eps),
//                      cooldown_counter = cooldown, bad = 0
// best starts at +inf (min) or -inf (max). The optimizer's current lr is the one reduced.
class ReduceLrOnPlateau {
 public:
  explicit ReduceLrOnPlateau(const PlateauOptions& options = {});
  // Records one epoch's metric; returns true when it lowered the optimizer's learning rate.
  bool step(Optimizer& optimizer, double metric);

  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  int64_t cooldown_counter() const { return cooldown_counter_; }
  int64_t epochs() const { return epochs_; }  // step() calls so far
  const PlateauOptions& options() const { return options_; }

  // Scalars: the options (checked on load) and best, num_bad_epochs, cooldown_counter, epochs.
  OptimizerState state() const;
  void load_state(const OptimizerState& state);

 private:
  bool is_better(double metric) const;
  std::vector<std::pair<std::string, double>> config() const;

  PlateauOptions options_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
  int64_t epochs_ = 0;
};

}  // namespace ember::optim
