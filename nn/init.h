// Weight initialisers, as Keras defines them (keras.initializers), drawn from an
// ember::RandomGenerator so a seed reproduces a model exactly on any device: values are always drawn
// on the CPU in the requested dtype, then moved to options.device.
//
// An Initializer is a small value, like a Keras initializer object:
//   Tensor w = init::glorot_uniform()({16, 3, 3, 8}, gen);
//   Conv2dOptions{.weight_init = init::variance_scaling(2.0, FanMode::FanOut,
//                                                       Distribution::TruncatedNormal)}
//
// Fans follow ember's layouts: the first axis is the outputs, the last the inputs, and the
// axes between are the receptive field. So dense weights [out, in] have fan_in = in,
// fan_out = out, and KRSC conv filters [K, R, S, C] have fan_in = R*S*C, fan_out = R*S*K -
// the same numbers Keras gets from its [in, out] and [R, S, C, K] kernels. A layer whose fans
// differ from that rule (depthwise convolution) passes its fans explicitly.
// Tested in tests/test_nn_layers.cpp (suite NnInit).
#pragma once
#include <functional>
#include <string>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace ember::nn::init {

struct Fans {
  double in = 1.0;
  double out = 1.0;
};
// Rank 0: 1, 1. Rank 1 [n]: n, n. Rank >= 2 [out, receptive..., in]: in * receptive,
// out * receptive.
Fans compute_fans(const Shape& shape);

enum class FanMode { FanIn, FanOut, FanAvg };
enum class Distribution { TruncatedNormal, UntruncatedNormal, Uniform };

class Initializer {
 public:
  using Fn = std::function<Tensor(const Shape& shape, const Fans& fans, RandomGenerator& gen,
                                  TensorOptions options)>;
  Initializer(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}

  // Draws a new tensor of `shape` (fans from compute_fans(shape), or given).
  Tensor operator()(const Shape& shape, RandomGenerator& gen, TensorOptions options = {}) const;
  Tensor operator()(const Shape& shape, const Fans& fans, RandomGenerator& gen,
                    TensorOptions options = {}) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  Fn fn_;
};

// Keras VarianceScaling: with n = fan_in, fan_out or their mean (mode),
//   truncated_normal:   N(0, s^2) resampled outside [-2s, 2s], s = sqrt(scale / n) / 0.8796...
//                       (the std of a unit normal truncated at +-2, so the result has variance
//                       scale / n);
//   untruncated_normal: N(0, scale / n);
//   uniform:            U(-l, l), l = sqrt(3 * scale / n).
Initializer variance_scaling(double scale, FanMode mode, Distribution distribution);
Initializer glorot_uniform();  // variance_scaling(1, fan_avg, uniform): Keras's default kernel
Initializer glorot_normal();   // variance_scaling(1, fan_avg, truncated_normal)
Initializer he_normal();       // variance_scaling(2, fan_in, truncated_normal)
Initializer he_uniform();      // variance_scaling(2, fan_in, uniform)
Initializer lecun_normal();    // variance_scaling(1, fan_in, truncated_normal)
Initializer random_uniform(double low = -0.05, double high = 0.05);  // Keras "uniform"
Initializer random_normal(double mean = 0.0, double stddev = 0.05);
// N(mean, stddev^2) resampled outside two standard deviations (Keras TruncatedNormal).
Initializer truncated_normal(double mean = 0.0, double stddev = 0.05);
Initializer constant(double value);
Initializer zeros();
Initializer ones();

}  // namespace ember::nn::init
