// Layers built on the differentiable ops of ops/: Linear, Conv2d, ConvTranspose2d, BatchNorm,
// LayerNorm, Embedding, Dropout, activations, pooling/flatten, and Sequential (nn/sequential.h).
// Activations are NHWC, conv filters KRSC. Defaults follow Keras (glorot_uniform kernels, zero
// biases, BatchNorm momentum 0.99 / eps 1e-3, LayerNorm eps 1e-3), since the models ported
// here come from Keras.
//
// Parameters are created float32 on the CPU from a RandomGenerator; move the model with
// module.to(device) / module.to(dtype) afterwards.
// Tested in tests/test_nn_layers.cpp (suites NnLinear, NnConv, NnNorm, ...).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "nn/init.h"
#include "nn/module.h"
#include "nn/sequential.h"
#include "ops/conv.h"
#include "ops/norm.h"

namespace ember::nn {

// A pair of sizes (rows, columns) that converts from one integer: kernel 3 means 3x3.
struct Size2 {
  int64_t h = 1, w = 1;
  Size2(int64_t n) : h(n), w(n) {}  // NOLINT: implicit on purpose, {.stride = 2}
  Size2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
};

// How a convolution pads its input.
//   same:     TensorFlow 'same' (computed per input size; the odd pixel goes bottom/right);
//   valid:    no padding;
//   explicit: the given rows/columns on each side.
struct Padding2d {
  enum class Mode { Same, Valid, Explicit };
  Mode mode = Mode::Valid;
  int64_t top = 0, bottom = 0, left = 0, right = 0;

  static Padding2d same() { return {Mode::Same}; }
  static Padding2d valid() { return {Mode::Valid}; }
  static Padding2d symmetric(int64_t pad_h, int64_t pad_w) {
    return {Mode::Explicit, pad_h, pad_h, pad_w, pad_w};
  }
  static Padding2d asymmetric(int64_t top, int64_t bottom, int64_t left, int64_t right) {
    return {Mode::Explicit, top, bottom, left, right};
  }
  std::string str() const;
};

// ---------------------------------------------------------------------------------------------
// Dense

struct LinearOptions {
  bool bias = true;
  init::Initializer weight_init = init::glorot_uniform();
  init::Initializer bias_init = init::zeros();
};

// y = x W^T + b over the last axis: weight [out, in], bias [out].
class Linear : public Layer {
 public:
  Linear(int64_t in_features, int64_t out_features, RandomGenerator& gen,
         const LinearOptions& options = {});
  std::string name() const override;
  Tensor forward(const Tensor& x) override;

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias

 private:
  int64_t in_features_, out_features_;
  Tensor weight_, bias_;
};

// ---------------------------------------------------------------------------------------------
// Convolutions

struct Conv2dOptions {
  Size2 stride = 1;
  Padding2d padding = Padding2d::valid();
  int64_t groups = 1;
  bool bias = true;
  init::Initializer weight_init = init::glorot_uniform();
  init::Initializer bias_init = init::zeros();
};

// x [N, H, W, Cin] -> [N, P, Q, Cout]; weight [Cout, R, S, Cin / groups], bias [Cout].
// A depthwise convolution (groups == Cin) draws its filters with the fans Keras's
// DepthwiseConv2D uses (fan_in = R*S*Cin, fan_out = R*S*Cout/Cin), so Keras recipes
// such as EfficientNet's variance_scaling(2, fan_out) give the same spread.
class Conv2d : public Layer {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel, RandomGenerator& gen,
         const Conv2dOptions& options = {});
  std::string name() const override;
  Tensor forward(const Tensor& x) override;
  // The explicit padding and strides this layer uses for an H x W input.
  Conv2dParams params_for(int64_t H, int64_t W) const;

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  int64_t in_channels_, out_channels_;
  Size2 kernel_;
  Conv2dOptions options_;
  Tensor weight_, bias_;
};

// A transposed convolution takes the same options as the convolution it transposes.
using ConvTranspose2dOptions = Conv2dOptions;

// Transposed convolution (Keras Conv2DTranspose): x [N, H, W, Cin] -> [N, OH, OW, Cout];
// weight [Cin, R, S, Cout / groups], bias [Cout]. Output size as Keras computes it:
//   same:  OH = H * stride;
//   valid: OH = H * stride + max(R - stride, 0);
//   explicit: OH = (H - 1) * stride - top - bottom + R.
class ConvTranspose2d : public Layer {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, Size2 kernel, RandomGenerator& gen,
                  const ConvTranspose2dOptions& options = {});
  std::string name() const override;
  Tensor forward(const Tensor& x) override;

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  int64_t in_channels_, out_channels_;
  Size2 kernel_;
  ConvTranspose2dOptions options_;
  Tensor weight_, bias_;
};

// ---------------------------------------------------------------------------------------------
// Normalisation

struct BatchNormOptions {
  double momentum = 0.99;  // Keras: running = momentum * running + (1 - momentum) * batch
  double eps = 1e-3;
  bool affine = true;      // learnable weight (gamma, ones) and bias (beta, zeros)
  bool unbiased_running_var = false;  // true: PyTorch's running-variance update
  // Applied to the normalised output in the same kernels (ops/norm.h): Swish gives
  // silu(batch_norm(x)) with one dispatch forward and one backward in training.
  BatchNormActivation activation = BatchNormActivation::None;
};

// Per-channel (last axis) batch normalisation, then options.activation. Buffers running_mean
// (zeros) and running_var (ones) are updated in training mode and used in eval mode.
class BatchNorm : public Layer {
 public:
  explicit BatchNorm(int64_t channels, const BatchNormOptions& options = {});
  std::string name() const override;
  Tensor forward(const Tensor& x) override;

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }

 private:
  int64_t channels_;
  BatchNormOptions options_;
  Tensor weight_, bias_, running_mean_, running_var_;
};

struct LayerNormOptions {
  double eps = 1e-3;  // Keras LayerNormalization's default (PyTorch uses 1e-5)
  bool affine = true;
};

// Normalises over the trailing axes given by `normalized_shape`; weight (ones) and bias (zeros)
// have that shape.
class LayerNorm : public Layer {
 public:
  explicit LayerNorm(Shape normalized_shape, const LayerNormOptions& options = {});
  std::string name() const override;
  Tensor forward(const Tensor& x) override;

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  Shape normalized_shape_;
  LayerNormOptions options_;
  Tensor weight_, bias_;
};

// ---------------------------------------------------------------------------------------------
// Embedding and dropout

// int64 indices of any shape -> [indices..., dim]; weight [num_embeddings, dim] drawn from
// Keras's default uniform(-0.05, 0.05).
class Embedding : public Layer {
 public:
  Embedding(int64_t num_embeddings, int64_t dim, RandomGenerator& gen,
            const init::Initializer& weight_init = init::random_uniform());
  std::string name() const override;
  Tensor forward(const Tensor& index) override;

  const Tensor& weight() const { return weight_; }

 private:
  int64_t num_embeddings_, dim_;
  Tensor weight_;
};

// Inverted dropout in training mode, identity in eval mode. Draws its masks from `gen` (by
// default the global generator, reseeded by manual_seed), which must outlive the layer; layers
// sharing a generator get different masks and replay together from one seed.
class Dropout : public Layer {
 public:
  explicit Dropout(double p, RandomGenerator& gen = default_random_generator());
  std::string name() const override;
  Tensor forward(const Tensor& x) override;
  RandomGenerator& generator() const { return *gen_; }

 private:
  double p_;
  RandomGenerator* gen_;
};

// ---------------------------------------------------------------------------------------------
// Stateless layers: activations, pooling, flatten

// Wraps any single-tensor function as a layer: Lambda("gelu", [](const Tensor& x) {...}).
class Lambda : public Layer {
 public:
  using Fn = std::function<Tensor(const Tensor&)>;
  Lambda(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::string name() const override { return name_; }
  Tensor forward(const Tensor& x) override { return fn_(x); }

 private:
  std::string name_;
  Fn fn_;
};

class ReLU : public Layer {
 public:
  std::string name() const override { return "ReLU"; }
  Tensor forward(const Tensor& x) override;
};

class LeakyReLU : public Layer {
 public:
  explicit LeakyReLU(double negative_slope = 0.2) : negative_slope_(negative_slope) {}
  std::string name() const override;
  Tensor forward(const Tensor& x) override;

 private:
  double negative_slope_;
};

class SiLU : public Layer {
 public:
  std::string name() const override { return "SiLU"; }
  Tensor forward(const Tensor& x) override;
};

class Sigmoid : public Layer {
 public:
  std::string name() const override { return "Sigmoid"; }
  Tensor forward(const Tensor& x) override;
};

class Tanh : public Layer {
 public:
  std::string name() const override { return "Tanh"; }
  Tensor forward(const Tensor& x) override;
};

// [N, H, W, C] -> [N, C]
class GlobalAvgPool : public Layer {
 public:
  std::string name() const override { return "GlobalAvgPool"; }
  Tensor forward(const Tensor& x) override;
};

// [N, ...] -> [N, prod(...)]
class Flatten : public Layer {
 public:
  std::string name() const override { return "Flatten"; }
  Tensor forward(const Tensor& x) override;
};

}  // namespace ember::nn
