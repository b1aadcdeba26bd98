// The conditional generator and projection critic of gan/networks.h. Reference and naming there;
// architecture, shapes and parameter counts in docs/gan.md; tests in tests/test_gan_models.cpp.
#include "gan/networks.h"

#include <iomanip>
#include <sstream>

#include "ops/ops.h"
#include "tensor/error.h"

namespace ember::models {

std::string gan_init_name(GanInit init) { return init == GanInit::Keras ? "keras" : "dcgan"; }

GanInit parse_gan_init(const std::string& name) {
  if (name == "keras") return GanInit::Keras;
  if (name == "dcgan") return GanInit::Dcgan;
  EMBER_FAIL("GAN initialisation must be 'keras' or 'dcgan', got '", name, "'");
}

namespace {

// The initialisers each scheme uses for kernels (dense, conv, transposed conv) and embeddings.
nn::init::Initializer kernel_init(GanInit init) {
  return init == GanInit::Keras ? nn::init::glorot_uniform() : nn::init::random_normal(0.0, 0.02);
}
nn::init::Initializer embedding_init(GanInit init) {
  return init == GanInit::Keras ? nn::init::random_uniform(-0.05, 0.05)
                                : nn::init::random_normal(0.0, 0.02);
}

void check_positive(int64_t value, const char* config, const char* field) {
  EMBER_CHECK(value > 0, config, ": ", field, " must be positive, got ", value);
}

std::string list_str(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + std::to_string(values[i]);
  return out + "}";
}

int64_t numel_of(const std::vector<Tensor>& tensors) {
  int64_t n = 0;
  for (const Tensor& t : tensors) n += t.numel();
  return n;
}

// Labels: int64 [N] matching the batch; the range is checked by the embedding lookup itself
// (checking it here would copy GPU labels to the host every step).
void check_labels(const Tensor& labels, int64_t batch, const std::string& who) {
  check_defined(labels, who.c_str(), "labels");
  EMBER_CHECK(labels.dtype() == DType::Int64 && labels.dim() == 1 && labels.size(0) == batch, who,
              ": labels must be int64 [", batch, "] (one class per sample), got ",
              labels.describe());
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Configs

void GeneratorConfig::validate() const {
  const char* who = "GeneratorConfig";
  check_positive(num_classes, who, "num_classes");
  check_positive(latent_dim, who, "latent_dim");
  check_positive(embedding_dim, who, "embedding_dim");
  check_positive(base_size, who, "base_size");
  check_positive(base_channels, who, "base_channels");
  check_positive(kernel, who, "kernel");
  check_positive(out_channels, who, "out_channels");
  check_positive(rgb_kernel, who, "rgb_kernel");
  EMBER_CHECK(!stage_filters.empty(), who, ": stage_filters must name at least one stage");
  for (int64_t f : stage_filters) check_positive(f, who, "every stage_filters entry");
  const int64_t expected = base_size << stage_filters.size();
  EMBER_CHECK(image_size == expected, who, ": image_size ", image_size, " does not match ",
              stage_filters.size(), " doubling stages from base_size ", base_size, " (gives ",
              expected, ")");
  EMBER_CHECK(bn_momentum >= 0.0 && bn_momentum <= 1.0 && bn_eps > 0.0, who,
              ": bn_momentum must be in [0, 1] and bn_eps positive, got ", bn_momentum, ", ",
              bn_eps);
}

void CriticConfig::validate() const {
  const char* who = "CriticConfig";
  check_positive(num_classes, who, "num_classes");
  check_positive(image_size, who, "image_size");
  check_positive(in_channels, who, "in_channels");
  check_positive(kernel, who, "kernel");
  check_positive(stride, who, "stride");
  EMBER_CHECK(!filters.empty(), who, ": filters must name at least one stage");
  for (int64_t f : filters) check_positive(f, who, "every filters entry");
  EMBER_CHECK(negative_slope >= 0.0 && negative_slope < 1.0, who,
              ": negative_slope must be in [0, 1), got ", negative_slope);
  EMBER_CHECK(layer_norm_eps > 0.0, who, ": layer_norm_eps must be positive, got ", layer_norm_eps);
}

// ---------------------------------------------------------------------------------------------
// Summary table

std::string format_gan_summary(const std::string& title, const std::vector<GanSummaryRow>& rows) {
  auto with_commas = [](int64_t n) {
    std::string digits = std::to_string(n), out;
    for (size_t i = 0; i < digits.size(); ++i) {
      if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
      out += digits[i];
    }
    return out;
  };
  auto shape_str = [](const Shape& shape) {
    std::string out = "(";
    for (size_t i = 0; i < shape.size(); ++i)
      out += (i ? ", " : "") + (shape[i] < 0 ? std::string("None") : std::to_string(shape[i]));
    return out + ")";
  };
  constexpr int kLayer = 40, kShape = 24;
  const std::string rule(kLayer + kShape + 12, '_'), double_rule(kLayer + kShape + 12, '=');
  std::ostringstream out;
  out << title << "\n"
      << rule << "\n"
      << std::left << std::setw(kLayer) << " Layer (type)" << std::setw(kShape) << "Output Shape"
      << "Param #\n"
      << double_rule << "\n";
  int64_t trainable = 0, buffers = 0;
  for (const GanSummaryRow& r : rows) {
    out << std::left << std::setw(kLayer) << (" " + r.name + " (" + r.type + ")")
        << std::setw(kShape) << shape_str(r.output) << with_commas(r.params + r.buffers) << "\n";
    trainable += r.params;
    buffers += r.buffers;
  }
  out << double_rule << "\n"
      << "Total params: " << with_commas(trainable + buffers) << "\n"
      << "Trainable params: " << with_commas(trainable) << "\n"
      << "Non-trainable params: " << with_commas(buffers) << "\n"
      << rule << "\n";
  return out.str();
}

// ---------------------------------------------------------------------------------------------
// SampleLayerNorm

SampleLayerNorm::SampleLayerNorm(int64_t channels, double eps) : channels_(channels), eps_(eps) {
  check_positive(channels, "SampleLayerNorm", "channels");
  weight_ = register_parameter("weight", ones({channels}));
  bias_ = register_parameter("bias", zeros({channels}));
}

std::string SampleLayerNorm::name() const {
  return "SampleLayerNorm(" + std::to_string(channels_) + ")";
}

Tensor SampleLayerNorm::forward(const Tensor& x) {
  check_defined(x, "SampleLayerNorm", "x");
  EMBER_CHECK(x.dim() == 4 && x.size(3) == channels_, name(), ": expected [N, H, W, ", channels_,
              "], got ", x.describe());
  // Statistics over [H, W, C]; the affine part broadcasts over the last axis.
  return layer_norm(x, 3, Tensor(), Tensor(), eps_) * weight_ + bias_;
}

// ---------------------------------------------------------------------------------------------
// ConditionalGenerator

ConditionalGenerator::ConditionalGenerator(GeneratorConfig config, RandomGenerator& gen)
    : config_(std::move(config)) {
  config_.validate();
  const GeneratorConfig& c = config_;
  const nn::init::Initializer kernel = kernel_init(c.init);
  label_embedding_ = register_module(
      "label_embedding",
      std::make_shared<nn::Embedding>(c.num_classes, c.embedding_dim, gen, embedding_init(c.init)));
  dense_ = register_module(
      "dense", std::make_shared<nn::Linear>(c.latent_dim + c.embedding_dim,
                                            c.base_size * c.base_size * c.base_channels, gen,
                                            nn::LinearOptions{.weight_init = kernel}));
  int64_t in = c.base_channels;
  for (size_t i = 0; i < c.stage_filters.size(); ++i) {
    const std::string stage = "up" + std::to_string(i + 1);
    const int64_t out = c.stage_filters[i];
    // 'same' for kernel 4 / stride 2 is the adjoint of a 'same' 4x4/2 convolution of the 2H
    // image: 1 pixel of padding on each side, output exactly 2H (Keras Conv2DTranspose
    // padding='same'; PyTorch ConvTranspose2d(4, 2, padding=1)). nn::ConvTranspose2d computes it.
    up_convt_.push_back(register_module(
        stage + "_convt",
        std::make_shared<nn::ConvTranspose2d>(
            in, out, c.kernel, gen,
            nn::ConvTranspose2dOptions{
                .stride = 2, .padding = nn::Padding2d::same(), .weight_init = kernel})));
    auto bn = register_module(
        stage + "_bn", std::make_shared<nn::BatchNorm>(
                           out, nn::BatchNormOptions{.momentum = c.bn_momentum, .eps = c.bn_eps}));
    // DCGAN draws gamma from N(1, 0.02); the layer starts at ones, so overwrite it in place
    // (before any graph exists).
    if (c.init == GanInit::Dcgan)
      copy_(bn->weight(), nn::init::random_normal(1.0, 0.02)({out}, gen));
    up_bn_.push_back(bn);
    in = out;
  }
  to_rgb_ = register_module(
      "to_rgb", std::make_shared<nn::Conv2d>(
                    in, c.out_channels, c.rgb_kernel, gen,
                    nn::Conv2dOptions{.padding = nn::Padding2d::same(), .weight_init = kernel}));
}

std::string ConditionalGenerator::name() const {
  const GeneratorConfig& c = config_;
  return "ConditionalGenerator(latent " + std::to_string(c.latent_dim) + " + embedding " +
         std::to_string(c.embedding_dim) + ", " + std::to_string(c.num_classes) +
         " classes, stages " + list_str(c.stage_filters) + ", " + std::to_string(c.image_size) +
         "x" + std::to_string(c.image_size) + "x" + std::to_string(c.out_channels) + ")";
}

Tensor ConditionalGenerator::forward(const Tensor& z, const Tensor& labels) {
  const GeneratorConfig& c = config_;
  check_defined(z, "ConditionalGenerator", "z");
  EMBER_CHECK(z.dim() == 2 && z.size(1) == c.latent_dim, name(), ": z must be [N, ", c.latent_dim,
              "], got ", z.describe());
  check_labels(labels, z.size(0), name());
  const int64_t N = z.size(0);
  // [z, embed(y)] -> [N, latent + E]; Keras's example concatenates in the same order.
  Tensor h = concat({z, label_embedding_->forward(labels)}, 1);
  h = relu(dense_->forward(h));
  // Dense units are read row-major as (row, column, channel): Keras's Reshape((4, 4, 256)).
  h = reshape(h, {N, c.base_size, c.base_size, c.base_channels});
  for (size_t i = 0; i < up_convt_.size(); ++i)
    h = relu(up_bn_[i]->forward(up_convt_[i]->forward(h)));
  return tanh(to_rgb_->forward(h));
}

int64_t ConditionalGenerator::num_trainable_parameters() const { return num_parameters(); }
int64_t ConditionalGenerator::num_buffer_elements() const { return numel_of(buffers()); }

std::vector<GanSummaryRow> ConditionalGenerator::summary_rows() const {
  const GeneratorConfig& c = config_;
  std::vector<GanSummaryRow> rows;
  rows.push_back({"z", "InputLayer", {-1, c.latent_dim}});
  rows.push_back({"label", "InputLayer", {-1}});
  rows.push_back({"label_embedding",
                  "Embedding",
                  {-1, c.embedding_dim},
                  numel_of(label_embedding_->parameters())});
  rows.push_back({"concat", "Concatenate", {-1, c.latent_dim + c.embedding_dim}});
  rows.push_back({"dense",
                  "Dense",
                  {-1, c.base_size * c.base_size * c.base_channels},
                  numel_of(dense_->parameters())});
  rows.push_back({"dense_relu", "ReLU", {-1, c.base_size * c.base_size * c.base_channels}});
  int64_t s = c.base_size;
  rows.push_back({"reshape", "Reshape", {-1, s, s, c.base_channels}});
  for (size_t i = 0; i < up_convt_.size(); ++i) {
    const std::string stage = "up" + std::to_string(i + 1);
    const int64_t f = c.stage_filters[i];
    s *= 2;
    rows.push_back(
        {stage + "_convt", "Conv2DTranspose", {-1, s, s, f}, numel_of(up_convt_[i]->parameters())});
    rows.push_back({stage + "_bn",
                    "BatchNormalization",
                    {-1, s, s, f},
                    numel_of(up_bn_[i]->parameters()),
                    numel_of(up_bn_[i]->buffers())});
    rows.push_back({stage + "_relu", "ReLU", {-1, s, s, f}});
  }
  rows.push_back({"to_rgb", "Conv2D", {-1, s, s, c.out_channels}, numel_of(to_rgb_->parameters())});
  rows.push_back({"tanh", "Activation", {-1, s, s, c.out_channels}});
  return rows;
}

std::string ConditionalGenerator::summary() const {
  return format_gan_summary(
      "Model: \"generator\" " + name() + ", init " + gan_init_name(config_.init), summary_rows());
}

// ---------------------------------------------------------------------------------------------
// ProjectionCritic

ProjectionCritic::ProjectionCritic(CriticConfig config, RandomGenerator& gen)
    : config_(std::move(config)) {
  config_.validate();
  const CriticConfig& c = config_;
  const nn::init::Initializer kernel = kernel_init(c.init);
  int64_t in = c.in_channels;
  for (size_t i = 0; i < c.filters.size(); ++i) {
    const std::string stage = "down" + std::to_string(i + 1);
    // 'same' with stride 2: output ceil(H / 2); for kernel 4 on an even size, 1 pixel of
    // padding on each side (PyTorch Conv2d(4, 2, padding=1)).
    down_conv_.push_back(register_module(
        stage + "_conv",
        std::make_shared<nn::Conv2d>(
            in, c.filters[i], c.kernel, gen,
            nn::Conv2dOptions{
                .stride = c.stride, .padding = nn::Padding2d::same(), .weight_init = kernel})));
    std::shared_ptr<SampleLayerNorm> ln;
    if (c.layer_norm && i > 0)
      ln = register_module(stage + "_ln",
                           std::make_shared<SampleLayerNorm>(c.filters[i], c.layer_norm_eps));
    down_ln_.push_back(ln);
    in = c.filters[i];
  }
  score_ = register_module(
      "score", std::make_shared<nn::Linear>(in, 1, gen, nn::LinearOptions{.weight_init = kernel}));
  projection_ = register_module("projection", std::make_shared<nn::Embedding>(
                                                  c.num_classes, in, gen, embedding_init(c.init)));
}

std::string ProjectionCritic::name() const {
  const CriticConfig& c = config_;
  return "ProjectionCritic(" + std::to_string(c.image_size) + "x" + std::to_string(c.image_size) +
         "x" + std::to_string(c.in_channels) + ", " + std::to_string(c.num_classes) +
         " classes, filters " + list_str(c.filters) + (c.layer_norm ? ", layer norm" : "") + ")";
}

Tensor ProjectionCritic::features(const Tensor& x) {
  const CriticConfig& c = config_;
  check_defined(x, "ProjectionCritic", "x");
  EMBER_CHECK(x.dim() == 4 && x.size(1) == c.image_size && x.size(2) == c.image_size &&
                  x.size(3) == c.in_channels,
              name(), ": images must be [N, ", c.image_size, ", ", c.image_size, ", ",
              c.in_channels, "], got ", x.describe());
  Tensor h = x;
  for (size_t i = 0; i < down_conv_.size(); ++i) {
    h = down_conv_[i]->forward(h);
    if (down_ln_[i]) h = down_ln_[i]->forward(h);
    h = leaky_relu(h, c.negative_slope);
  }
  // Sum pooling, not the mean: Miyato & Koyama's ResNet critics sum, so the score grows with
  // the evidence over the image rather than averaging it away.
  return global_sum_pool(h);  // [N, F]
}

Tensor ProjectionCritic::forward(const Tensor& x, const Tensor& labels) {
  check_defined(x, "ProjectionCritic", "x");
  check_labels(labels, x.dim() > 0 ? x.size(0) : 0, name());
  Tensor h = features(x);
  // psi(h) + <embed(y), h>: the class enters as an inner product with the feature, which is
  // the projection form of the conditional log-density ratio.
  Tensor projection = sum(projection_->forward(labels) * h, {1}, /*keepdim=*/true);
  return score_->forward(h) + projection;  // [N, 1]
}

int64_t ProjectionCritic::num_trainable_parameters() const { return num_parameters(); }

std::vector<GanSummaryRow> ProjectionCritic::summary_rows() const {
  const CriticConfig& c = config_;
  std::vector<GanSummaryRow> rows;
  int64_t s = c.image_size;
  rows.push_back({"image", "InputLayer", {-1, s, s, c.in_channels}});
  rows.push_back({"label", "InputLayer", {-1}});
  for (size_t i = 0; i < down_conv_.size(); ++i) {
    const std::string stage = "down" + std::to_string(i + 1);
    const int64_t f = c.filters[i];
    s = (s + c.stride - 1) / c.stride;  // 'same': ceil(S / stride)
    rows.push_back(
        {stage + "_conv", "Conv2D", {-1, s, s, f}, numel_of(down_conv_[i]->parameters())});
    if (down_ln_[i])
      rows.push_back({stage + "_ln",
                      "LayerNormalization",
                      {-1, s, s, f},
                      numel_of(down_ln_[i]->parameters())});
    rows.push_back({stage + "_lrelu", "LeakyReLU", {-1, s, s, f}});
  }
  const int64_t F = c.feature_dim();
  rows.push_back({"sum_pool", "GlobalSumPooling2D", {-1, F}});
  rows.push_back({"score", "Dense", {-1, 1}, numel_of(score_->parameters())});
  rows.push_back({"projection", "Embedding", {-1, F}, numel_of(projection_->parameters())});
  rows.push_back({"inner_product", "Dot", {-1, 1}});
  rows.push_back({"output", "Add", {-1, 1}});
  return rows;
}

std::string ProjectionCritic::summary() const {
  return format_gan_summary("Model: \"critic\" " + name() + ", init " + gan_init_name(config_.init),
                            summary_rows());
}

}  // namespace ember::models
