// Random tensors and stochastic layers, drawn from a Philox RandomGenerator (tensor/random.h) so that
// one seed gives the same numbers on the CPU and the GPU.
#pragma once
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace ember {

Tensor rand_uniform(const Shape& shape, RandomGenerator& gen, TensorOptions options = {},
                    double low = 0.0, double high = 1.0);
Tensor rand_normal(const Shape& shape, RandomGenerator& gen, TensorOptions options = {},
                   double mean = 0.0, double stddev = 1.0);
// 1 with probability p, else 0, in options.dtype.
Tensor bernoulli(const Shape& shape, double p, RandomGenerator& gen, TensorOptions options = {});
// A random permutation of 0..n-1 (int64): the argsort of n Philox keys.
Tensor randperm(int64_t n, RandomGenerator& gen, Device device = Device::cpu());

// Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p).
// Identity when !training or p == 0.
Tensor dropout(const Tensor& x, double p, bool training, RandomGenerator& gen);
// Stochastic depth: drops whole samples (axis 0) with probability p, scaling kept ones by
// 1/(1-p) (Keras/EfficientNet drop-connect). Identity when !training or p == 0.
Tensor drop_path(const Tensor& x, double p, bool training, RandomGenerator& gen);

}  // namespace ember
