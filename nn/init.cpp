// Keras initialisers (keras/src/initializers/random_initializers.py semantics), drawn with
// rand_uniform / rand_normal from ops/random.h on the CPU and then moved to the target device.
// Tested in tests/test_nn_layers.cpp (suite NnInit): bounds, standard deviations, truncation.
#include "nn/init.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "ops/elementwise.h"
#include "ops/random.h"
#include "tensor/error.h"

namespace ember::nn::init {

namespace {

// The standard deviation of a unit normal truncated to [-2, 2]; Keras divides by it so the
// truncated draw has the intended variance.
constexpr double kTruncatedNormalStd = 0.87962566103423978;

TensorOptions on_cpu(const TensorOptions& options) {
  return {.dtype = options.dtype, .device = Device::cpu(), .requires_grad = false};
}

// Moves a host draw to the requested device, as a fresh leaf without history.
Tensor finish(const Tensor& host, const TensorOptions& options) {
  Tensor out = convert(host, options.dtype, options.device);
  if (options.requires_grad) out.set_requires_grad(true);
  return out;
}

// Unit normal values, each one outside [-2, 2] redrawn until none is left (TensorFlow's
// truncated_normal). Every round draws a whole new tensor and keeps only the values it needs,
// so the result depends on the seed alone.
Tensor truncated_unit_normal(const Shape& shape, RandomGenerator& gen, const TensorOptions& options) {
  Tensor z = rand_normal(shape, gen, on_cpu(options));
  for (;;) {
    const Tensor outside = greater(abs(z), 2.0);  // uint8 mask
    int64_t count = 0;
    for (uint8_t m : outside.to_vector<uint8_t>()) count += m;
    if (count == 0) return z;
    z = where(outside, rand_normal(shape, gen, on_cpu(options)), z);
  }
}

double fan_for(const Fans& fans, FanMode mode) {
  switch (mode) {
    case FanMode::FanIn: return fans.in;
    case FanMode::FanOut: return fans.out;
    case FanMode::FanAvg: return (fans.in + fans.out) / 2.0;
  }
  EMBER_FAIL("variance_scaling: unknown fan mode");
}

}  // namespace

Fans compute_fans(const Shape& shape) {
  if (shape.empty()) return {1.0, 1.0};
  if (shape.size() == 1) return {static_cast<double>(shape[0]), static_cast<double>(shape[0])};
  double receptive = 1.0;
  for (size_t i = 1; i + 1 < shape.size(); ++i) receptive *= static_cast<double>(shape[i]);
  return {static_cast<double>(shape.back()) * receptive,
          static_cast<double>(shape.front()) * receptive};
}

Tensor Initializer::operator()(const Shape& shape, RandomGenerator& gen, TensorOptions options) const {
  return (*this)(shape, compute_fans(shape), gen, options);
}

Tensor Initializer::operator()(const Shape& shape, const Fans& fans, RandomGenerator& gen,
                               TensorOptions options) const {
  EMBER_CHECK(is_floating(options.dtype), "initializer ", name_, ": needs a floating dtype, got ",
              dtype_name(options.dtype));
  NoGradGuard no_grad;
  return fn_(shape, fans, gen, options);
}

Initializer variance_scaling(double scale, FanMode mode, Distribution distribution) {
  EMBER_CHECK(scale > 0.0, "variance_scaling: scale must be positive, got ", scale);
  return Initializer("variance_scaling", [=](const Shape& shape, const Fans& fans, RandomGenerator& gen,
                                             TensorOptions options) {
    const double n = std::max(1.0, fan_for(fans, mode));  // Keras: max(1, n)
    const double variance = scale / n;
    switch (distribution) {
      case Distribution::TruncatedNormal: {
        const double stddev = std::sqrt(variance) / kTruncatedNormalStd;
        return finish(truncated_unit_normal(shape, gen, options) * stddev, options);
      }
      case Distribution::UntruncatedNormal:
        return finish(rand_normal(shape, gen, on_cpu(options), 0.0, std::sqrt(variance)), options);
      case Distribution::Uniform: {
        const double limit = std::sqrt(3.0 * variance);
        return finish(rand_uniform(shape, gen, on_cpu(options), -limit, limit), options);
      }
    }
    EMBER_FAIL("variance_scaling: unknown distribution");
  });
}

Initializer glorot_uniform() {
  return variance_scaling(1.0, FanMode::FanAvg, Distribution::Uniform);
}
Initializer glorot_normal() {
  return variance_scaling(1.0, FanMode::FanAvg, Distribution::TruncatedNormal);
}
Initializer he_normal() {
  return variance_scaling(2.0, FanMode::FanIn, Distribution::TruncatedNormal);
}
Initializer he_uniform() { return variance_scaling(2.0, FanMode::FanIn, Distribution::Uniform); }
Initializer lecun_normal() {
  return variance_scaling(1.0, FanMode::FanIn, Distribution::TruncatedNormal);
}

Initializer random_uniform(double low, double high) {
  EMBER_CHECK(low < high, "random_uniform: low (", low, ") must be below high (", high, ")");
  return Initializer("random_uniform", [=](const Shape& shape, const Fans&, RandomGenerator& gen,
                                           TensorOptions options) {
    return finish(rand_uniform(shape, gen, on_cpu(options), low, high), options);
  });
}

Initializer random_normal(double mean, double stddev) {
  EMBER_CHECK(stddev >= 0.0, "random_normal: stddev must be >= 0, got ", stddev);
  return Initializer("random_normal", [=](const Shape& shape, const Fans&, RandomGenerator& gen,
                                          TensorOptions options) {
    return finish(rand_normal(shape, gen, on_cpu(options), mean, stddev), options);
  });
}

Initializer truncated_normal(double mean, double stddev) {
  EMBER_CHECK(stddev >= 0.0, "truncated_normal: stddev must be >= 0, got ", stddev);
  return Initializer("truncated_normal", [=](const Shape& shape, const Fans&, RandomGenerator& gen,
                                             TensorOptions options) {
    return finish(truncated_unit_normal(shape, gen, options) * stddev + mean,
                  options);
  });
}

Initializer constant(double value) {
  return Initializer("constant", [=](const Shape& shape, const Fans&, RandomGenerator&,
                                     TensorOptions options) {
    return full(shape, value, options);
  });
}
Initializer zeros() { return constant(0.0); }
Initializer ones() { return constant(1.0); }

}  // namespace ember::nn::init
