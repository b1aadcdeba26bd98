// Random tensors and the stochastic layers built on them (ops/random.h). Each draw first checks
// its arguments, then reserves exactly numel counters from the RandomGenerator (so a failed call does
// not move the stream; inside a CUDA graph capture, a PhiloxDraw that reads the replay's state
// from device memory), then runs one kernel (kernels/random.h). dropout and drop_path multiply
// by a constant random mask with ops::mul, so their backward (grad * mask) and double backward
// come from mul. Tested in tests/test_random.cpp; the counter scheme is in docs/rng.md.
#include "ops/random.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/random.h"
#include "ops/elementwise.h"

namespace ember {

namespace {

void check_float_options(const TensorOptions& options, const char* op) {
  EMBER_CHECK(options.dtype == DType::Float32 || options.dtype == DType::Float64, op,
              ": dtype must be float32 or float64, got ", dtype_name(options.dtype));
}

// Draws into a fresh tensor: allocate, reserve the counters, fill, then mark requires_grad.
template <typename Fill>
Tensor draw(const Shape& shape, RandomGenerator& gen, TensorOptions options, Fill&& fill) {
  const bool requires_grad = options.requires_grad;
  options.requires_grad = false;
  Tensor out = empty(shape, options);
  fill(out, gen.reserve_draw(static_cast<uint64_t>(out.numel()), out.device()));
  if (requires_grad) out.set_requires_grad(true);
  return out;
}

// The mask of inverted dropout, Bernoulli(1 - p) / (1 - p) in x's dtype and device, of `shape`.
// p == 1 gives zeros but still reserves the counters, so the stream position after the call
// never depends on p.
Tensor keep_mask(const Shape& shape, double p, const Tensor& x, RandomGenerator& gen) {
  const TensorOptions options{x.dtype(), x.device()};
  if (p >= 1.0) {
    gen.reserve_draw(static_cast<uint64_t>(numel_of(shape)), x.device());
    return zeros(shape, options);
  }
  Tensor mask = bernoulli(shape, 1.0 - p, gen, options);
  mul_(mask, 1.0 / (1.0 - p));
  return mask;
}

void check_dropout_args(const Tensor& x, double p, const char* op) {
  check_defined(x, op, "x");
  EMBER_CHECK(p >= 0.0 && p <= 1.0, op, ": drop probability p must be in [0, 1], got ", p);
  EMBER_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, op,
              ": x must be float32 or float64, got ", x.describe());
}

}  // namespace

Tensor rand_uniform(const Shape& shape, RandomGenerator& gen, TensorOptions options, double low,
                    double high) {
  check_float_options(options, "rand_uniform");
  EMBER_CHECK(std::isfinite(low) && std::isfinite(high) && low <= high,
              "rand_uniform: need finite low <= high, got low = ", low, ", high = ", high);
  return draw(shape, gen, options, [&](const Tensor& out, const PhiloxDraw& source) {
    kernels::fill_uniform(out, source, low, high);
  });
}

Tensor rand_normal(const Shape& shape, RandomGenerator& gen, TensorOptions options, double mean,
                   double stddev) {
  check_float_options(options, "rand_normal");
  EMBER_CHECK(std::isfinite(mean) && std::isfinite(stddev) && stddev >= 0.0,
              "rand_normal: need a finite mean and a finite stddev >= 0, got mean = ", mean,
              ", stddev = ", stddev);
  return draw(shape, gen, options, [&](const Tensor& out, const PhiloxDraw& source) {
    kernels::fill_normal(out, source, mean, stddev);
  });
}

Tensor bernoulli(const Shape& shape, double p, RandomGenerator& gen, TensorOptions options) {
  EMBER_CHECK(options.dtype == DType::Float32 || options.dtype == DType::Float64 ||
                  options.dtype == DType::UInt8,
              "bernoulli: dtype must be float32, float64 or uint8, got ", dtype_name(options.dtype));
  EMBER_CHECK(p >= 0.0 && p <= 1.0, "bernoulli: probability p must be in [0, 1], got ", p);
  EMBER_CHECK(!options.requires_grad || options.dtype != DType::UInt8,
              "bernoulli: a uint8 tensor cannot require gradients");
  return draw(shape, gen, options, [&](const Tensor& out, const PhiloxDraw& source) {
    kernels::fill_bernoulli(out, source, p);
  });
}

// The keys are drawn and sorted where the result lives (a stable radix sort on a GPU), ordered
// by (key, index): ties are rare (2^-32 per pair) but breaking them by index keeps the result a
// pure function of the generator state, identical on every device.
Tensor randperm(int64_t n, RandomGenerator& gen, Device device) {
  EMBER_CHECK(n >= 0, "randperm: n must be >= 0, got ", n);
  Tensor keys = draw({n}, gen, {DType::Int64, device},
                     [&](const Tensor& out, const PhiloxDraw& source) {
                       kernels::random_keys(out, source);
                     });
  Tensor perm = empty({n}, {DType::Int64, device});
  kernels::permutation_from_keys(perm, keys);
  return perm;
}

Tensor dropout(const Tensor& x, double p, bool training, RandomGenerator& gen) {
  check_dropout_args(x, p, "dropout");
  if (!training || p == 0.0) return x;
  // out = x * mask: mul records grad * mask (and its own double backward); the mask is a
  // constant without history.
  return x * keep_mask(x.shape(), p, x, gen);
}

Tensor drop_path(const Tensor& x, double p, bool training, RandomGenerator& gen) {
  check_dropout_args(x, p, "drop_path");
  EMBER_CHECK(x.dim() >= 1, "drop_path: x needs a sample axis (axis 0), got ", x.describe());
  if (!training || p == 0.0) return x;
  // One draw per sample: mask of shape [N, 1, 1, ...] broadcast over the rest by mul.
  Shape mask_shape(static_cast<size_t>(x.dim()), 1);
  mask_shape[0] = x.shape()[0];
  return x * keep_mask(mask_shape, p, x, gen);
}

}  // namespace ember
