// Exponential moving average of a model's parameters (Polyak averaging), as
// tf.train.ExponentialMovingAverage / Keras' optimizer use_ema and timm's ModelEmaV2:
//   shadow = decay_t * shadow + (1 - decay_t) * param          after each optimizer step
//   decay_t = decay, or with num_updates_warmup (TensorFlow's num_updates):
//   decay_t = min(decay, (1 + n) / (10 + n)), n = the number of updates before this one
// update() is one multi-tensor kernel call per (device, dtype) group (kernels::ema_update_multi);
// decay_t is computed on the device from a device-held float64 update count, incremented there,
// so an update reads nothing from the host; num_updates() is its host mirror.
// In a captured CUDA graph, update() registers the counting of that mirror for every replay, so
// the average must outlive the graphs that captured it.
// The shadow starts as a copy of the parameters at construction. For evaluation, swap_in()
// copies the averages into the parameters (in place: the tensor handles an optimizer holds stay
// valid) and restore() puts the trained values back.
// Buffers (BatchNorm running statistics) are NOT averaged: evaluation with the averaged weights
// uses the model's current buffers, i.e. they are copied, as Keras does (its EMA covers the
// trainable variables only; the running statistics are already averages).
// The shadow follows its parameter when the model is moved (module.to).
// state()/load_state(): tensors "<parameter name>.shadow", scalars decay, num_updates_warmup
// (both checked on load) and num_updates.
// Tested in tests/test_optim_ema.cpp against hand computations.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nn/module.h"
#include "optim/optimizer.h"

namespace ember::optim {

class ExponentialMovingAverage {
 public:
  // Averages model.named_parameters(), or a named list of parameters.
  ExponentialMovingAverage(const nn::Module& model, double decay, bool num_updates_warmup = false);
  ExponentialMovingAverage(nn::NamedTensors params, double decay, bool num_updates_warmup = false);

  // One averaging step from the parameters' current values (call after optimizer.step()).
  void update();
  // Parameters <- averages (the trained values are kept aside); restore() undoes it. Calling
  // update() or swap_in() while swapped in is an error.
  void swap_in();
  void restore();
  bool swapped_in() const { return swapped_in_; }

  double decay() const { return decay_; }
  double next_decay() const;  // decay_t of the next update
  int64_t num_updates() const { return num_updates_; }
  // The device-held update count (float64 [1]) on the last update's device; undefined before it.
  const Tensor& device_count() const { return count_; }
  const Tensor& shadow(size_t i) const { return shadows_.at(i); }
  size_t size() const { return params_.size(); }

  OptimizerState state() const;
  void load_state(const OptimizerState& state);

 private:
  void follow_params();  // moves the shadows to their parameters' device and dtype
  const Tensor& count_on(Device device);  // the device-held count, made from the mirror if needed

  nn::NamedTensors params_;
  std::vector<Tensor> shadows_;
  std::vector<Tensor> backups_;  // the trained values while swapped in
  double decay_;
  bool num_updates_warmup_;
  int64_t num_updates_ = 0;  // host mirror of count_
  Tensor count_;
  bool swapped_in_ = false;
};

}  // namespace ember::optim
