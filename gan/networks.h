// The conditional GAN: a label-conditioned generator and a projection critic, both
// nn::Modules built from nn/ layers, configured by the two Config structs below (the defaults
// are the 64x64 EuroSAT networks of docs/gan.md).
//
// References: the generator follows the seed's diagram, itself from the Keras "Conditional GAN"
// example (label -> Embedding -> concat with z -> Dense -> reshape -> Conv2DTranspose stages ->
// RGB), with the DCGAN pattern ConvTranspose -> BatchNorm -> ReLU. The critic is the projection
// discriminator of Miyato & Koyama (2018), "cGANs with Projection Discriminator":
//   D(x, y) = psi(h) + <embed(y), h>,  h = sum over pixels of phi(x),
// with phi the strided convolutions and LeakyReLU of DCGAN, no BatchNorm (the WGAN-GP penalty
// is per sample, which batch statistics would break; Gulrajani et al. 2017, section 4) and an
// optional layer norm as in the WGAN-GP reference code.
//
// Layout: NHWC images, values in [-1, 1]; labels int64 [N] in [0, num_classes).
// Parameter names (named_parameters), every layer a direct child:
//   generator  label_embedding.weight [classes, E]; dense.weight [4*4*256, latent + E],
//              dense.bias; upK_convt.weight [Cin, 4, 4, Cout] (ember's transposed-conv layout),
//              upK_convt.bias; upK_bn.weight / .bias (gamma / beta) with buffers
//              upK_bn.running_mean / .running_var; to_rgb.weight [3, 3, 3, 32], to_rgb.bias
//   critic     downK_conv.weight [K, 4, 4, C], downK_conv.bias; (layer norm) downK_ln.weight /
//              .bias [K]; score.weight [1, F], score.bias [1]; projection.weight [classes, F]
// K counts stages from 1. Parameter counts and the table: docs/gan.md.
//
// Tested in tests/test_gan_models.cpp (shapes, ranges, parameter counts by hand, names,
// configurability, determinism, initialisers, errors).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"

namespace ember::models {

// How the weights of the GAN are drawn.
//   Keras: Keras's layer defaults (glorot_uniform kernels, zero biases, Embedding
//          uniform(-0.05, 0.05), BatchNorm gamma 1): what the seed's Keras example got.
//   Dcgan: Radford et al. 2016 / PyTorch's DCGAN example: every kernel and embedding
//          N(0, 0.02), biases 0, BatchNorm gamma N(1, 0.02), beta 0.
enum class GanInit { Keras, Dcgan };
std::string gan_init_name(GanInit init);
GanInit parse_gan_init(const std::string& name);  // "keras" or "dcgan"; throws otherwise

struct GeneratorConfig {
  int64_t num_classes = 10;
  int64_t latent_dim = 128;    // z ~ N(0, 1)
  int64_t embedding_dim = 32;  // label embedding, concatenated after z
  int64_t base_size = 4;       // the dense output is reshaped to base x base x base_channels
  int64_t base_channels = 256;
  // One ConvTranspose(k4, s2, 'same') -> BatchNorm -> ReLU stage per entry; each doubles H, W.
  std::vector<int64_t> stage_filters = {256, 128, 64, 32};
  int64_t kernel = 4;
  int64_t out_channels = 3;
  int64_t rgb_kernel = 3;     // the final Conv2D(out_channels, rgb_kernel, 'same') -> tanh
  int64_t image_size = 64;    // must equal base_size * 2^stages (checked)
  double bn_momentum = 0.99;  // Keras BatchNormalization defaults
  double bn_eps = 1e-3;
  GanInit init = GanInit::Keras;

  void validate() const;  // throws naming the bad field
};

struct CriticConfig {
  int64_t num_classes = 10;
  int64_t image_size = 64;
  int64_t in_channels = 3;
  // One Conv2D(k, stride, 'same') -> [LayerNorm] -> LeakyReLU stage per entry. The projection
  // embedding has filters.back() dimensions (it is dotted with the pooled feature h).
  std::vector<int64_t> filters = {64, 128, 256, 512};
  int64_t kernel = 4;
  int64_t stride = 2;
  double negative_slope = 0.2;
  // Layer norm over each sample's [H, W, C] feature map with a per-channel gain and offset, on
  // every stage but the first (as the WGAN-GP reference code's DCGAN critic).
  bool layer_norm = false;
  double layer_norm_eps = 1e-5;
  GanInit init = GanInit::Keras;

  int64_t feature_dim() const { return filters.empty() ? 0 : filters.back(); }
  void validate() const;
};

// One line of a summary(): a layer, its output shape (batch axis -1, printed "None"), its
// parameter count (trainable) and its buffers (non-trainable).
struct GanSummaryRow {
  std::string name;
  std::string type;
  Shape output;
  int64_t params = 0;
  int64_t buffers = 0;
};
// A Keras-style table of rows and totals.
std::string format_gan_summary(const std::string& title, const std::vector<GanSummaryRow>& rows);

// Layer norm over the last three axes [H, W, C] of each sample, then a per-channel affine map
// (gain ones, offset zeros): x_hat * weight[c] + bias[c]. Per-sample, so it keeps the WGAN-GP
// penalty's per-sample meaning, and twice differentiable (ops/norm.h).
class SampleLayerNorm : public nn::Layer {
 public:
  SampleLayerNorm(int64_t channels, double eps);
  std::string name() const override;
  Tensor forward(const Tensor& x) override;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  int64_t channels_;
  double eps_;
  Tensor weight_, bias_;
};

class ConditionalGenerator : public nn::Module {
 public:
  ConditionalGenerator(GeneratorConfig config, RandomGenerator& gen);
  std::string name() const override;
  // z [N, latent_dim] (float), labels int64 [N] -> images [N, S, S, out_channels] in [-1, 1].
  // BatchNorm uses batch statistics in train() mode and running statistics in eval() mode.
  Tensor forward(const Tensor& z, const Tensor& labels);
  Tensor operator()(const Tensor& z, const Tensor& labels) { return forward(z, labels); }

  const GeneratorConfig& config() const { return config_; }
  int64_t num_trainable_parameters() const;
  int64_t num_buffer_elements() const;  // BN running statistics
  std::vector<GanSummaryRow> summary_rows() const;
  std::string summary() const;

 private:
  GeneratorConfig config_;
  std::shared_ptr<nn::Embedding> label_embedding_;
  std::shared_ptr<nn::Linear> dense_;
  std::vector<std::shared_ptr<nn::ConvTranspose2d>> up_convt_;
  std::vector<std::shared_ptr<nn::BatchNorm>> up_bn_;
  std::shared_ptr<nn::Conv2d> to_rgb_;
};

class ProjectionCritic : public nn::Module {
 public:
  ProjectionCritic(CriticConfig config, RandomGenerator& gen);
  std::string name() const override;
  // x [N, S, S, in_channels] (S = image_size), labels int64 [N] -> scores [N, 1] (unbounded:
  // Wasserstein critic values, or logits for the BCE losses).
  Tensor forward(const Tensor& x, const Tensor& labels);
  Tensor operator()(const Tensor& x, const Tensor& labels) { return forward(x, labels); }
  // The pooled feature h [N, feature_dim] (sum over pixels of the last stage).
  Tensor features(const Tensor& x);

  const CriticConfig& config() const { return config_; }
  int64_t num_trainable_parameters() const;
  std::vector<GanSummaryRow> summary_rows() const;
  std::string summary() const;

 private:
  CriticConfig config_;
  std::vector<std::shared_ptr<nn::Conv2d>> down_conv_;
  std::vector<std::shared_ptr<SampleLayerNorm>> down_ln_;  // null where a stage has none
  std::shared_ptr<nn::Linear> score_;
  std::shared_ptr<nn::Embedding> projection_;
};

}  // namespace ember::models
