// Layer implementations: parameter creation (Keras defaults), input checks that name the layer,
// and a call to the differentiable op. Output sizes and padding follow TensorFlow/Keras.
// Tested in tests/test_nn_layers.cpp.
#include "nn/layers.h"

#include <algorithm>
#include <sstream>

#include "ops/activation.h"
#include "ops/index.h"
#include "ops/linalg.h"
#include "ops/norm.h"
#include "ops/pool.h"
#include "ops/random.h"
#include "ops/shape.h"
#include "tensor/error.h"

namespace ember::nn {

namespace {

std::string size2_str(const Size2& s) {
  return std::to_string(s.h) + "x" + std::to_string(s.w);
}

void check_positive(int64_t value, const char* layer, const char* what) {
  EMBER_CHECK(value > 0, layer, ": ", what, " must be positive, got ", value);
}

void check_conv_geometry(const char* layer, int64_t in_channels, int64_t out_channels,
                         const Size2& kernel, const Size2& stride, const Padding2d& padding,
                         int64_t groups) {
  check_positive(in_channels, layer, "in_channels");
  check_positive(out_channels, layer, "out_channels");
  check_positive(kernel.h, layer, "kernel height");
  check_positive(kernel.w, layer, "kernel width");
  check_positive(stride.h, layer, "stride height");
  check_positive(stride.w, layer, "stride width");
  check_positive(groups, layer, "groups");
  EMBER_CHECK(in_channels % groups == 0 && out_channels % groups == 0, layer, ": groups (",
              groups, ") must divide in_channels (", in_channels, ") and out_channels (",
              out_channels, ")");
  EMBER_CHECK(padding.top >= 0 && padding.bottom >= 0 && padding.left >= 0 && padding.right >= 0,
              layer, ": negative padding ", padding.str());
}

// Checks that x is [N, H, W, channels].
void check_nhwc(const Tensor& x, int64_t channels, const std::string& layer) {
  check_defined(x, layer.c_str(), "x");
  EMBER_CHECK(x.dim() == 4 && x.size(3) == channels, layer, ": expected an NHWC input with ",
              channels, " channels, got ", x.describe());
}

// "Conv2d(3 -> 8, 3x3, stride 2x2, same, groups 2, no bias)": the summary line of a convolution.
std::string describe_conv(const char* kind, int64_t in_channels, int64_t out_channels, Size2 kernel,
                          const Conv2dOptions& options, bool has_bias) {
  std::string text = std::string(kind) + "(" + std::to_string(in_channels) + " -> " +
                     std::to_string(out_channels) + ", " + size2_str(kernel);
  if (options.stride.h != 1 || options.stride.w != 1) text += ", stride " + size2_str(options.stride);
  text += ", " + options.padding.str();
  if (options.groups != 1) text += ", groups " + std::to_string(options.groups);
  if (!has_bias) text += ", no bias";
  return text + ")";
}

}  // namespace

std::string Padding2d::str() const {
  switch (mode) {
    case Mode::Same: return "same";
    case Mode::Valid: return "valid";
    case Mode::Explicit: {
      std::ostringstream out;
      out << "pad " << top << "/" << bottom << "/" << left << "/" << right;
      return out.str();
    }
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Linear

Linear::Linear(int64_t in_features, int64_t out_features, RandomGenerator& gen,
               const LinearOptions& options)
    : in_features_(in_features), out_features_(out_features) {
  check_positive(in_features, "Linear", "in_features");
  check_positive(out_features, "Linear", "out_features");
  weight_ = register_parameter("weight", options.weight_init({out_features, in_features}, gen));
  if (options.bias) {
    bias_ = register_parameter("bias", options.bias_init({out_features}, gen));
  }
}

std::string Linear::name() const {
  return "Linear(" + std::to_string(in_features_) + " -> " + std::to_string(out_features_) +
         (bias_.defined() ? "" : ", no bias") + ")";
}

Tensor Linear::forward(const Tensor& x) {
  check_defined(x, "Linear", "x");
  EMBER_CHECK(x.dim() >= 1 && x.size(-1) == in_features_, name(),
              ": expected an input whose last axis has ", in_features_, " features, got ",
              x.describe());
  return linear(x, weight_, bias_);
}

// ---------------------------------------------------------------------------------------------
// Conv2d

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel, RandomGenerator& gen,
               const Conv2dOptions& options)
    : in_channels_(in_channels), out_channels_(out_channels), kernel_(kernel), options_(options) {
  check_conv_geometry("Conv2d", in_channels, out_channels, kernel, options.stride,
                      options.padding, options.groups);
  const Shape shape = {out_channels, kernel.h, kernel.w, in_channels / options.groups};
  init::Fans fans = init::compute_fans(shape);
  if (options.groups > 1 && options.groups == in_channels) {
    // Keras DepthwiseConv2D kernel [R, S, Cin, multiplier].
    const double receptive = static_cast<double>(kernel.h * kernel.w);
    fans = {receptive * in_channels, receptive * (out_channels / in_channels)};
  }
  weight_ = register_parameter("weight", options.weight_init(shape, fans, gen));
  if (options.bias) bias_ = register_parameter("bias", options.bias_init({out_channels}, gen));
}

std::string Conv2d::name() const {
  return describe_conv("Conv2d", in_channels_, out_channels_, kernel_, options_, bias_.defined());
}

Conv2dParams Conv2d::params_for(int64_t H, int64_t W) const {
  const Size2& s = options_.stride;
  const Padding2d& p = options_.padding;
  switch (p.mode) {
    case Padding2d::Mode::Same:
      return same_padding(H, W, kernel_.h, kernel_.w, s.h, s.w, options_.groups);
    case Padding2d::Mode::Valid:
      return {.stride_h = s.h, .stride_w = s.w, .groups = options_.groups};
    case Padding2d::Mode::Explicit:
      return {.stride_h = s.h, .stride_w = s.w, .pad_top = p.top, .pad_bottom = p.bottom,
              .pad_left = p.left, .pad_right = p.right, .groups = options_.groups};
  }
  EMBER_FAIL(name(), ": unknown padding mode");
}

Tensor Conv2d::forward(const Tensor& x) {
  check_nhwc(x, in_channels_, name());
  const Conv2dParams params = params_for(x.size(1), x.size(2));
  EMBER_CHECK(x.size(1) + params.pad_top + params.pad_bottom >= kernel_.h &&
                  x.size(2) + params.pad_left + params.pad_right >= kernel_.w,
              name(), ": input ", x.describe(), " is smaller than the ", size2_str(kernel_),
              " kernel");
  return conv2d(x, weight_, bias_, params);
}

// ---------------------------------------------------------------------------------------------
// ConvTranspose2d

ConvTranspose2d::ConvTranspose2d(int64_t in_channels, int64_t out_channels, Size2 kernel,
                                 RandomGenerator& gen, const ConvTranspose2dOptions& options)
    : in_channels_(in_channels), out_channels_(out_channels), kernel_(kernel), options_(options) {
  check_conv_geometry("ConvTranspose2d", in_channels, out_channels, kernel, options.stride,
                      options.padding, options.groups);
  // [Cin, R, S, Cout/groups]: by the first-axis-out rule fan_in = R*S*Cout/groups and
  // fan_out = R*S*Cin, which is what Keras computes for its [R, S, Cout, Cin] kernel.
  const Shape shape = {in_channels, kernel.h, kernel.w, out_channels / options.groups};
  weight_ = register_parameter("weight", options.weight_init(shape, gen));
  if (options.bias) bias_ = register_parameter("bias", options.bias_init({out_channels}, gen));
}

std::string ConvTranspose2d::name() const {
  return describe_conv("ConvTranspose2d", in_channels_, out_channels_, kernel_, options_,
                       bias_.defined());
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  check_nhwc(x, in_channels_, name());
  const int64_t H = x.size(1), W = x.size(2);
  const Size2& s = options_.stride;
  const Padding2d& p = options_.padding;
  Conv2dParams params{.stride_h = s.h, .stride_w = s.w, .groups = options_.groups};
  int64_t out_pad_h = 0, out_pad_w = 0;
  switch (p.mode) {
    case Padding2d::Mode::Same: {
      // The transposed convolution is the adjoint of a 'same' convolution of an
      // (H * stride) x (W * stride) image, so it takes that convolution's padding; the rows the
      // formula does not reach (kernel smaller than stride) become output padding.
      params = same_padding(H * s.h, W * s.w, kernel_.h, kernel_.w, s.h, s.w, options_.groups);
      out_pad_h = H * s.h - ((H - 1) * s.h - params.pad_top - params.pad_bottom + kernel_.h);
      out_pad_w = W * s.w - ((W - 1) * s.w - params.pad_left - params.pad_right + kernel_.w);
      break;
    }
    case Padding2d::Mode::Valid:
      out_pad_h = std::max<int64_t>(s.h - kernel_.h, 0);
      out_pad_w = std::max<int64_t>(s.w - kernel_.w, 0);
      break;
    case Padding2d::Mode::Explicit:
      params.pad_top = p.top;
      params.pad_bottom = p.bottom;
      params.pad_left = p.left;
      params.pad_right = p.right;
      break;
  }
  return conv_transpose2d(x, weight_, bias_, params, out_pad_h, out_pad_w);
}

// ---------------------------------------------------------------------------------------------
// Normalisation

BatchNorm::BatchNorm(int64_t channels, const BatchNormOptions& options)
    : channels_(channels), options_(options) {
  check_positive(channels, "BatchNorm", "channels");
  EMBER_CHECK(options.momentum >= 0.0 && options.momentum <= 1.0,
              "BatchNorm: momentum must be in [0, 1], got ", options.momentum);
  EMBER_CHECK(options.eps > 0.0, "BatchNorm: eps must be positive, got ", options.eps);
  if (options.affine) {
    weight_ = register_parameter("weight", ones({channels}));
    bias_ = register_parameter("bias", zeros({channels}));
  }
  running_mean_ = register_buffer("running_mean", zeros({channels}));
  running_var_ = register_buffer("running_var", ones({channels}));
}

std::string BatchNorm::name() const {
  const bool swish = options_.activation == BatchNormActivation::Swish;
  return "BatchNorm(" + std::to_string(channels_) + (swish ? ", swish)" : ")");
}

Tensor BatchNorm::forward(const Tensor& x) {
  check_defined(x, "BatchNorm", "x");
  EMBER_CHECK(x.dim() >= 2 && x.size(-1) == channels_, name(),
              ": expected an input with ", channels_, " channels on the last axis, got ",
              x.describe());
  const ember::BatchNormOptions options{.training = is_training(),
                                        .momentum = options_.momentum,
                                        .eps = options_.eps,
                                        .unbiased_running_var = options_.unbiased_running_var,
                                        .activation = options_.activation};
  return batch_norm(x, weight_, bias_, running_mean_, running_var_, options);
}

LayerNorm::LayerNorm(Shape normalized_shape, const LayerNormOptions& options)
    : normalized_shape_(std::move(normalized_shape)), options_(options) {
  EMBER_CHECK(!normalized_shape_.empty(), "LayerNorm: normalized_shape must not be empty");
  for (int64_t d : normalized_shape_) check_positive(d, "LayerNorm", "normalized dimension");
  EMBER_CHECK(options.eps > 0.0, "LayerNorm: eps must be positive, got ", options.eps);
  if (options.affine) {
    weight_ = register_parameter("weight", ones(normalized_shape_));
    bias_ = register_parameter("bias", zeros(normalized_shape_));
  }
}

std::string LayerNorm::name() const { return "LayerNorm(" + shape_str(normalized_shape_) + ")"; }

Tensor LayerNorm::forward(const Tensor& x) {
  check_defined(x, "LayerNorm", "x");
  const int64_t k = static_cast<int64_t>(normalized_shape_.size());
  const bool fits = x.dim() >= k &&
                    Shape(x.shape().end() - k, x.shape().end()) == normalized_shape_;
  EMBER_CHECK(fits, name(), ": the trailing axes of ", x.describe(), " must be ",
              shape_str(normalized_shape_));
  return layer_norm(x, k, weight_, bias_, options_.eps);
}

// ---------------------------------------------------------------------------------------------
// Embedding and dropout

Embedding::Embedding(int64_t num_embeddings, int64_t dim, RandomGenerator& gen,
                     const init::Initializer& weight_init)
    : num_embeddings_(num_embeddings), dim_(dim) {
  check_positive(num_embeddings, "Embedding", "num_embeddings");
  check_positive(dim, "Embedding", "dim");
  weight_ = register_parameter("weight", weight_init({num_embeddings, dim}, gen));
}

std::string Embedding::name() const {
  return "Embedding(" + std::to_string(num_embeddings_) + ", " + std::to_string(dim_) + ")";
}

Tensor Embedding::forward(const Tensor& index) {
  check_defined(index, "Embedding", "index");
  EMBER_CHECK(index.dtype() == DType::Int64, name(), ": indices must be int64, got ",
              index.describe());
  return embedding(weight_, index);
}

Dropout::Dropout(double p, RandomGenerator& gen) : p_(p), gen_(&gen) {
  EMBER_CHECK(p >= 0.0 && p < 1.0, "Dropout: p must be in [0, 1), got ", p);
}

std::string Dropout::name() const {
  std::ostringstream out;
  out << "Dropout(" << p_ << ")";
  return out.str();
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, is_training(), *gen_); }

// ---------------------------------------------------------------------------------------------
// Stateless layers

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

std::string LeakyReLU::name() const {
  std::ostringstream out;
  out << "LeakyReLU(" << negative_slope_ << ")";
  return out.str();
}
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, negative_slope_); }

Tensor SiLU::forward(const Tensor& x) { return silu(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }

Tensor GlobalAvgPool::forward(const Tensor& x) {
  check_defined(x, "GlobalAvgPool", "x");
  EMBER_CHECK(x.dim() == 4, "GlobalAvgPool: expected an NHWC input, got ", x.describe());
  return global_avg_pool(x);
}

Tensor Flatten::forward(const Tensor& x) {
  check_defined(x, "Flatten", "x");
  EMBER_CHECK(x.dim() >= 1, "Flatten: expected at least one axis, got ", x.describe());
  return flatten(x, 1);
}

}  // namespace ember::nn
