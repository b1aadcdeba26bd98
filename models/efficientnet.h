// EfficientNet as an nn::Layer, built from the block table of models/efficientnet_config.h (the
// one description of the architecture) with the nn/ layers: NHWC inputs with values 0..255 ->
// logits [N, classes].
//
// Reference: keras.applications.efficientnet (EfficientNet(include_top=False, pooling='avg')
// followed by Dropout and Dense, as the experiment's classifier is built): Rescaling(1/255) and
// Normalization (ImageNet mean/variance), stem conv 3x3/2 + BN + swish, MBConv blocks
// (expand 1x1 + BN + swish when the expand ratio is not 1, depthwise kxk + BN + swish,
// squeeze-and-excite, project 1x1 + BN, identity skip with drop-connect), top conv 1x1 + BN +
// swish, global average pooling, dropout, dense. torchvision's efficientnet_b2 is the same
// network (symmetric padding, BN epsilon 1e-5, no input normalisation inside the model): see
// EfficientNetOptions. The model returns logits; Keras's softmax belongs to the loss here.
//
// Parameter names (named_parameters / named_buffers). Every layer with state is a direct child
// of the model registered under its Keras layer name, so the dotted names are
// "<keras layer>.<role>":
//   convolutions  stem_conv, blockNx_expand_conv, blockNx_dwconv, blockNx_se_reduce,
//                 blockNx_se_expand, blockNx_project_conv, top_conv:  .weight [K, R, S, C/groups]
//                 (Keras kernel [R, S, C, K], depthwise [R, S, C, 1]); the SE convs add .bias [K]
//   batch norms   stem_bn, blockNx_expand_bn, blockNx_bn, blockNx_project_bn, top_bn:
//                 .weight (gamma), .bias (beta); buffers .running_mean (moving_mean),
//                 .running_var (moving_variance)
//   dense         predictions: .weight [classes, C] (Keras kernel [C, classes]), .bias
//   buffers       normalization.mean [3], normalization.variance [3] (Keras also keeps a
//                 `count` that only adapt() reads; it is not stored here)
// Blocks are named "block{stage}{letter}" as Keras does (block1a, block1b, block2a, ...).
//
// Tested in tests/test_efficientnet.cpp (parameter counts and shapes against the table and
// Keras, names, output shapes, determinism, drop-connect, gradients, a float64 gradcheck of a
// two-block network).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/efficientnet_config.h"
#include "nn/layers.h"

namespace ember::models {

// Keras's EfficientNet initialisers (keras.applications.efficientnet):
//   CONV_KERNEL_INITIALIZER  = VarianceScaling(2.0, 'fan_out', 'truncated_normal')  (all convs,
//                              depthwise included, with DepthwiseConv2D's fans; see nn::Conv2d)
//   DENSE_KERNEL_INITIALIZER = VarianceScaling(1/3, 'fan_out', 'uniform')
// Biases are zeros, BN gamma ones and beta zeros, as in Keras.
nn::init::Initializer efficientnet_conv_initializer();
nn::init::Initializer efficientnet_dense_initializer();

enum class EfficientNetPadding {
  TfSame,     // TensorFlow 'same': the odd padding pixel at the bottom/right (Keras)
  Symmetric,  // (k - 1) / 2 on every side (PyTorch / torchvision / timm)
};

struct EfficientNetOptions {
  // Interoperability: torchvision's efficientnet_b2 is {Symmetric, bn_eps 1e-5,
  // bn_momentum 0.9 (its momentum 0.1), bn_unbiased_running_var true,
  // include_preprocessing false}.
  EfficientNetPadding padding = EfficientNetPadding::TfSame;
  double bn_eps = 1e-3;
  double bn_momentum = 0.99;  // Keras convention: running = momentum * running + (1 - m) * batch
  bool bn_unbiased_running_var = false;
  // Rates; unset takes the config's (0.2 and, for B2, 0.3). Block i of B drops its residual
  // branch with probability drop_connect_rate * i / B (Keras and torchvision alike).
  std::optional<double> drop_connect_rate = std::nullopt;
  std::optional<double> dropout_rate = std::nullopt;
  // Rescaling(1/255) + Normalization(ImageNet mean, variance) at the input, as Keras's model
  // has (inputs 0..255). Off: the model takes already normalised inputs (torchvision).
  bool include_preprocessing = true;
  nn::init::Initializer conv_init = efficientnet_conv_initializer();
  // Keras's applications use DENSE_KERNEL_INITIALIZER for their own classifier; a Dense(10)
  // a user appends to include_top=False gets Keras's default glorot_uniform instead: pass
  // nn::init::glorot_uniform() for that.
  nn::init::Initializer dense_init = efficientnet_dense_initializer();
};

// x * scale + offset (Keras Rescaling). No state.
class Rescaling : public nn::Layer {
 public:
  explicit Rescaling(double scale, double offset = 0.0) : scale_(scale), offset_(offset) {}
  std::string name() const override;
  Tensor forward(const Tensor& x) override;
  double scale() const { return scale_; }
  double offset() const { return offset_; }

 private:
  double scale_, offset_;
};

// (x - mean) / max(sqrt(variance), 1e-7) over the last axis (Keras Normalization, with its
// epsilon), mean and variance as buffers so loaded weights and .to() carry them.
class Normalization : public nn::Layer {
 public:
  static constexpr double kEpsilon = 1e-7;  // Keras's backend epsilon
  Normalization(const std::vector<double>& mean, const std::vector<double>& variance);
  std::string name() const override;
  Tensor forward(const Tensor& x) override;
  const Tensor& mean() const { return mean_; }
  const Tensor& variance() const { return variance_; }

 private:
  Tensor mean_, variance_;
};

// The ImageNet statistics Keras's EfficientNet normalises with (RGB, inputs scaled to 0..1):
// mean (0.485, 0.456, 0.406), standard deviation (0.229, 0.224, 0.225).
std::vector<double> imagenet_mean();
std::vector<double> imagenet_variance();  // the standard deviations squared

// One line of summary(): a Keras layer, its output shape (batch axis -1, printed "None") and
// its parameter count (trainable and not).
struct EfficientNetSummaryRow {
  std::string name;
  std::string type;  // Keras class name: Conv2D, DepthwiseConv2D, BatchNormalization, ...
  Shape output;
  int64_t params = 0;
};

class EfficientNet : public nn::Layer {
 public:
  // Draws the weights from `gen`, and later the dropout and drop-connect masks, so `gen` must
  // outlive the model; reseed or set_state it to replay a training run.
  EfficientNet(EfficientNetConfig config, int64_t num_classes, RandomGenerator& gen,
               const EfficientNetOptions& options = {});

  std::string name() const override;
  // x: [N, H, W, 3], values 0..255 (float, or uint8 converted here) -> logits [N, classes].
  // With preprocessing, a uint8 batch is converted, rescaled and normalised in one fused pass
  // (ops/preprocess.h), bit for bit what the float32 batch of the same pixels gives.
  Tensor forward(const Tensor& x) override;
  // Up to the pooled features: [N, head filters] (before dropout and the classifier).
  Tensor features(const Tensor& x);

  const EfficientNetConfig& config() const { return config_; }
  const EfficientNetOptions& options() const { return options_; }
  int64_t num_classes() const { return num_classes_; }
  const std::vector<EfficientNetBlock>& blocks() const { return specs_; }
  double drop_connect_rate(size_t block) const;  // of block `block` (0-based)
  double dropout_rate() const { return dropout_rate_; }
  RandomGenerator& generator() const { return *gen_; }

  // Parameters with requires_grad / parameters without it plus every buffer (Keras's
  // "non-trainable": BN moving statistics and the normalisation's mean and variance).
  int64_t num_trainable_parameters() const;
  int64_t num_non_trainable_parameters() const;

  // Keras-style summary for an H x W input: every layer Keras lists except the explicit
  // ZeroPadding2D rows (the padding lives in the convolutions here), then the totals.
  std::vector<EfficientNetSummaryRow> summary_rows(int64_t H, int64_t W) const;
  std::string summary(int64_t H, int64_t W) const;

 private:
  struct Block {
    EfficientNetBlock spec;
    double drop_rate = 0.0;
    std::shared_ptr<nn::Conv2d> expand_conv;  // null when expand_ratio == 1
    std::shared_ptr<nn::BatchNorm> expand_bn;
    std::shared_ptr<nn::Conv2d> dwconv;
    std::shared_ptr<nn::BatchNorm> bn;
    std::shared_ptr<nn::Conv2d> se_reduce, se_expand;
    std::shared_ptr<nn::Conv2d> project_conv;
    std::shared_ptr<nn::BatchNorm> project_bn;
  };
  Tensor block_forward(const Block& block, const Tensor& x);
  std::shared_ptr<nn::Conv2d> make_conv(const std::string& name, int64_t in, int64_t out,
                                        int64_t kernel, int64_t stride, int64_t groups,
                                        bool bias);
  // A BatchNorm whose forward also applies `activation` (swish after every BN but the
  // projections'), fused into the batch norm's kernels; its parameter and buffer names are
  // those of a plain BatchNorm.
  std::shared_ptr<nn::BatchNorm> make_bn(
      const std::string& name, int64_t channels,
      BatchNormActivation activation = BatchNormActivation::None);

  EfficientNetConfig config_;
  EfficientNetOptions options_;
  int64_t num_classes_;
  RandomGenerator* gen_;
  double drop_connect_rate_, dropout_rate_;
  std::vector<EfficientNetBlock> specs_;
  std::shared_ptr<Rescaling> rescaling_;          // null without preprocessing
  std::shared_ptr<Normalization> normalization_;  // null without preprocessing
  std::shared_ptr<nn::Conv2d> stem_conv_;
  std::shared_ptr<nn::BatchNorm> stem_bn_;
  std::vector<Block> blocks_;
  std::shared_ptr<nn::Conv2d> top_conv_;
  std::shared_ptr<nn::BatchNorm> top_bn_;
  std::shared_ptr<nn::Linear> predictions_;
};

// EfficientNetB2 (width 1.1, depth 1.2, dropout 0.3) with a `num_classes` classifier.
std::shared_ptr<EfficientNet> efficientnet_b2(RandomGenerator& gen, int64_t num_classes = 10,
                                              const EfficientNetOptions& options = {});

}  // namespace ember::models
