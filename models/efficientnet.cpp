// EfficientNet built from the block table (see models/efficientnet.h for the Keras reference, the
// options that make it torchvision's network, and the parameter naming scheme).
// Tested in tests/test_efficientnet.cpp.
#include "models/efficientnet.h"

#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

#include "ops/ops.h"
#include "tensor/error.h"

namespace ember::models {

nn::init::Initializer efficientnet_conv_initializer() {
  return nn::init::variance_scaling(2.0, nn::init::FanMode::FanOut,
                                    nn::init::Distribution::TruncatedNormal);
}

nn::init::Initializer efficientnet_dense_initializer() {
  return nn::init::variance_scaling(1.0 / 3.0, nn::init::FanMode::FanOut,
                                    nn::init::Distribution::Uniform);
}

std::vector<double> imagenet_mean() { return {0.485, 0.456, 0.406}; }
std::vector<double> imagenet_variance() {
  return {0.229 * 0.229, 0.224 * 0.224, 0.225 * 0.225};
}

// ---------------------------------------------------------------------------------------------
// Preprocessing

std::string Rescaling::name() const {
  std::ostringstream out;
  out << "Rescaling(" << scale_ << ", offset " << offset_ << ")";
  return out.str();
}

Tensor Rescaling::forward(const Tensor& x) {
  check_defined(x, "Rescaling", "x");
  Tensor y = x * scale_;
  return offset_ == 0.0 ? y : y + offset_;
}

Normalization::Normalization(const std::vector<double>& mean, const std::vector<double>& variance) {
  EMBER_CHECK(!mean.empty() && mean.size() == variance.size(),
              "Normalization: mean and variance need the same, non-zero length; got ",
              mean.size(), " and ", variance.size());
  for (double v : variance)
    EMBER_CHECK(v >= 0.0, "Normalization: variance must not be negative, got ", v);
  const int64_t c = static_cast<int64_t>(mean.size());
  mean_ = register_buffer("mean", from_vector(mean, {c}));
  variance_ = register_buffer("variance", from_vector(variance, {c}));
}

std::string Normalization::name() const {
  return "Normalization(" + std::to_string(mean_.numel()) + ")";
}

Tensor Normalization::forward(const Tensor& x) {
  check_defined(x, "Normalization", "x");
  EMBER_CHECK(x.dim() >= 1 && x.size(-1) == mean_.numel(), name(), ": expected ",
              mean_.numel(), " channels on the last axis, got ", x.describe());
  // Keras divides by max(sqrt(variance), epsilon) with its backend epsilon 1e-7. Computed from
  // the buffers on every call (6 numbers), so loaded statistics take effect at once.
  const Tensor scale =
      reciprocal(clamp(sqrt(variance_), kEpsilon, std::numeric_limits<double>::infinity()));
  return (x - mean_) * scale;
}

// ---------------------------------------------------------------------------------------------
// EfficientNet

namespace {

void check_rate(double rate, const char* what) {
  EMBER_CHECK(rate >= 0.0 && rate < 1.0, "EfficientNet: ", what, " must be in [0, 1), got ", rate);
}

// Output size of a convolution whose padding and stride `p` gives for an input of size n.
int64_t conv_out(int64_t n, int64_t kernel, int64_t stride, int64_t pad_before,
                 int64_t pad_after) {
  return (n + pad_before + pad_after - kernel) / stride + 1;
}

constexpr BatchNormActivation kSwish = BatchNormActivation::Swish;

int64_t numel_of_module(const nn::Module& m) {
  int64_t n = 0;
  for (const Tensor& t : m.parameters()) n += t.numel();
  for (const Tensor& t : m.buffers()) n += t.numel();
  return n;
}

}  // namespace

std::shared_ptr<nn::Conv2d> EfficientNet::make_conv(const std::string& name, int64_t in,
                                                    int64_t out, int64_t kernel, int64_t stride,
                                                    int64_t groups, bool bias) {
  nn::Conv2dOptions o;
  o.stride = stride;
  // Symmetric: (k - 1) / 2 per side, PyTorch's choice for odd kernels. Both modes give the same
  // output size for every input size (ceil(H / stride)); only where the odd pixel goes differs.
  o.padding = options_.padding == EfficientNetPadding::TfSame
                  ? nn::Padding2d::same()
                  : nn::Padding2d::symmetric((kernel - 1) / 2, (kernel - 1) / 2);
  o.groups = groups;
  o.bias = bias;
  o.weight_init = options_.conv_init;
  return register_module(name, std::make_shared<nn::Conv2d>(in, out, kernel, *gen_, o));
}

std::shared_ptr<nn::BatchNorm> EfficientNet::make_bn(const std::string& name, int64_t channels,
                                                     BatchNormActivation activation) {
  const nn::BatchNormOptions o{.momentum = options_.bn_momentum,
                               .eps = options_.bn_eps,
                               .affine = true,
                               .unbiased_running_var = options_.bn_unbiased_running_var,
                               .activation = activation};
  return register_module(name, std::make_shared<nn::BatchNorm>(channels, o));
}

EfficientNet::EfficientNet(EfficientNetConfig config, int64_t num_classes, RandomGenerator& gen,
                           const EfficientNetOptions& options)
    : config_(std::move(config)), options_(options), num_classes_(num_classes), gen_(&gen) {
  EMBER_CHECK(num_classes >= 1, "EfficientNet: num_classes must be at least 1, got ",
              num_classes);
  EMBER_CHECK(!config_.stages.empty(), "EfficientNet: config '", config_.name,
              "' has no stages");
  EMBER_CHECK(config_.stem_filters >= 1 && config_.head_filters >= 1,
              "EfficientNet: stem and head filters must be positive, got ", config_.stem_filters,
              " and ", config_.head_filters);
  drop_connect_rate_ = options.drop_connect_rate.value_or(config_.drop_connect_rate);
  dropout_rate_ = options.dropout_rate.value_or(config_.dropout_rate);
  check_rate(drop_connect_rate_, "drop_connect_rate");
  check_rate(dropout_rate_, "dropout_rate");
  EMBER_CHECK(options.bn_eps > 0.0, "EfficientNet: bn_eps must be positive, got ",
              options.bn_eps);

  // Registration order is Keras's layer order, which is also the order the weights are drawn
  // from `gen`: one seed gives one network, whatever the padding mode.
  if (options.include_preprocessing) {
    rescaling_ = register_module("rescaling", std::make_shared<Rescaling>(1.0 / 255.0));
    normalization_ = register_module(
        "normalization", std::make_shared<Normalization>(imagenet_mean(), imagenet_variance()));
  }
  stem_conv_ = make_conv("stem_conv", 3, config_.stem_filters, 3, 2, 1, false);
  stem_bn_ = make_bn("stem_bn", config_.stem_filters, kSwish);

  specs_ = efficientnet_blocks(config_);
  const double total = static_cast<double>(specs_.size());
  int64_t channels = config_.stem_filters;
  for (size_t i = 0; i < specs_.size(); ++i) {
    const EfficientNetBlock& s = specs_[i];
    EMBER_CHECK(s.filters_in == channels, "EfficientNet: block ", s.name, " expects ",
                s.filters_in, " input channels but the previous layer gives ", channels);
    Block b;
    b.spec = s;
    b.drop_rate = drop_connect_rate_ * static_cast<double>(i) / total;
    if (s.has_expand()) {
      b.expand_conv = make_conv(s.name + "_expand_conv", s.filters_in, s.expanded, 1, 1, 1, false);
      b.expand_bn = make_bn(s.name + "_expand_bn", s.expanded, kSwish);
    }
    b.dwconv = make_conv(s.name + "_dwconv", s.expanded, s.expanded, s.kernel, s.stride,
                         s.expanded, false);
    b.bn = make_bn(s.name + "_bn", s.expanded, kSwish);
    b.se_reduce = make_conv(s.name + "_se_reduce", s.expanded, s.se_filters, 1, 1, 1, true);
    b.se_expand = make_conv(s.name + "_se_expand", s.se_filters, s.expanded, 1, 1, 1, true);
    b.project_conv =
        make_conv(s.name + "_project_conv", s.expanded, s.filters_out, 1, 1, 1, false);
    b.project_bn = make_bn(s.name + "_project_bn", s.filters_out);
    blocks_.push_back(std::move(b));
    channels = s.filters_out;
  }
  top_conv_ = make_conv("top_conv", channels, config_.head_filters, 1, 1, 1, false);
  top_bn_ = make_bn("top_bn", config_.head_filters, kSwish);
  nn::LinearOptions dense;
  dense.weight_init = options.dense_init;
  predictions_ = register_module(
      "predictions",
      std::make_shared<nn::Linear>(config_.head_filters, num_classes, *gen_, dense));
}

std::string EfficientNet::name() const {
  return "EfficientNet(" + config_.name + ", " + std::to_string(num_classes_) + " classes, " +
         (options_.padding == EfficientNetPadding::TfSame ? "TF same" : "symmetric") +
         " padding)";
}

double EfficientNet::drop_connect_rate(size_t block) const {
  EMBER_CHECK(block < blocks_.size(), name(), ": block ", block, " out of range (",
              blocks_.size(), " blocks)");
  return blocks_[block].drop_rate;
}

Tensor EfficientNet::block_forward(const Block& b, const Tensor& x) {
  Tensor h = x;
  // expand_bn and bn apply swish themselves (fused batch norm + swish).
  if (b.expand_conv) h = (*b.expand_bn)((*b.expand_conv)(h));
  h = (*b.bn)((*b.dwconv)(h));
  // Squeeze-and-excite: per-sample channel weights from the pooled map (its two 1x1 convs,
  // swish and sigmoid), broadcast back over H and W; one fused op (ops/squeeze_excite.h) that
  // reads the se_reduce and se_expand layers' weights.
  h = squeeze_excite(h, b.se_reduce->weight(), b.se_reduce->bias(), b.se_expand->weight(),
                     b.se_expand->bias());
  h = (*b.project_bn)((*b.project_conv)(h));
  if (b.spec.has_residual()) {
    // Drop-connect (stochastic depth): whole samples of the residual branch, as Keras's
    // Dropout(noise_shape=(None, 1, 1, 1)); drop_path is the identity in eval mode.
    h = drop_path(h, b.drop_rate, is_training(), *gen_) + x;
  }
  return h;
}

Tensor EfficientNet::features(const Tensor& input) {
  check_defined(input, "EfficientNet", "x");
  EMBER_CHECK(input.dim() == 4 && input.size(3) == 3, name(),
              ": expected an NHWC RGB input [N, H, W, 3], got ", input.describe());
  Tensor x = input;
  if (rescaling_) {
    // Rescaling and Normalization in one pass (ops/preprocess.h), which also converts integer
    // pixels (the Loader's uint8 batches) to the model's float type; the same bits as the two
    // layers' forward on the float pixels.
    x = rescale_normalize(x,
                          {.scale = rescaling_->scale(),
                           .offset = rescaling_->offset(),
                           .mean = normalization_->mean(),
                           .variance = normalization_->variance(),
                           .eps = Normalization::kEpsilon},
                          stem_conv_->weight().dtype());
  } else if (is_integral(x.dtype())) {
    x = x.to(stem_conv_->weight().dtype());  // integer images: the model's float type
  }
  x = (*stem_bn_)((*stem_conv_)(x));  // BN + swish, fused
  for (const Block& b : blocks_) x = block_forward(b, x);
  x = (*top_bn_)((*top_conv_)(x));  // BN + swish, fused
  return global_avg_pool(x);
}

Tensor EfficientNet::forward(const Tensor& x) {
  Tensor h = features(x);
  h = dropout(h, dropout_rate_, is_training(), *gen_);
  return (*predictions_)(h);
}

int64_t EfficientNet::num_trainable_parameters() const {
  int64_t n = 0;
  for (const Tensor& t : parameters())
    if (t.requires_grad()) n += t.numel();
  return n;
}

int64_t EfficientNet::num_non_trainable_parameters() const {
  int64_t n = 0;
  for (const Tensor& t : parameters())
    if (!t.requires_grad()) n += t.numel();
  for (const Tensor& t : buffers()) n += t.numel();
  return n;
}

std::vector<EfficientNetSummaryRow> EfficientNet::summary_rows(int64_t H, int64_t W) const {
  EMBER_CHECK(H >= 1 && W >= 1, name(), ": summary needs a positive input size, got ", H, "x",
              W);
  std::vector<EfficientNetSummaryRow> rows;
  int64_t h = H, w = W, c = 3;
  auto row = [&](const std::string& layer, const std::string& type, Shape out,
                 int64_t params = 0) { rows.push_back({layer, type, std::move(out), params}); };
  auto map = [&](const std::string& layer, const std::string& type, int64_t params = 0) {
    row(layer, type, {-1, h, w, c}, params);
  };
  // A convolution moves (h, w, c) to its output, from the padding it would use at this size.
  auto conv = [&](const std::string& layer, const nn::Conv2d& m, int64_t kernel, int64_t out,
                  const char* type) {
    const Conv2dParams p = m.params_for(h, w);
    EMBER_CHECK(h + p.pad_top + p.pad_bottom >= kernel && w + p.pad_left + p.pad_right >= kernel,
                name(), ": a ", H, "x", W, " input is too small for ", layer);
    h = conv_out(h, kernel, p.stride_h, p.pad_top, p.pad_bottom);
    w = conv_out(w, kernel, p.stride_w, p.pad_left, p.pad_right);
    c = out;
    map(layer, type, numel_of_module(m));
  };

  row("input", "InputLayer", {-1, H, W, 3});
  if (rescaling_) {
    map("rescaling", "Rescaling");
    map("normalization", "Normalization", numel_of_module(*normalization_));
  }
  conv("stem_conv", *stem_conv_, 3, config_.stem_filters, "Conv2D");
  map("stem_bn", "BatchNormalization", numel_of_module(*stem_bn_));
  map("stem_activation", "Activation");
  for (const Block& b : blocks_) {
    const EfficientNetBlock& s = b.spec;
    const int64_t in_h = h, in_w = w, in_c = c;
    if (b.expand_conv) {
      conv(s.name + "_expand_conv", *b.expand_conv, 1, s.expanded, "Conv2D");
      map(s.name + "_expand_bn", "BatchNormalization", numel_of_module(*b.expand_bn));
      map(s.name + "_expand_activation", "Activation");
    }
    conv(s.name + "_dwconv", *b.dwconv, s.kernel, s.expanded, "DepthwiseConv2D");
    map(s.name + "_bn", "BatchNormalization", numel_of_module(*b.bn));
    map(s.name + "_activation", "Activation");
    row(s.name + "_se_squeeze", "GlobalAveragePooling2D", {-1, c});
    row(s.name + "_se_reshape", "Reshape", {-1, 1, 1, c});
    row(s.name + "_se_reduce", "Conv2D", {-1, 1, 1, s.se_filters}, numel_of_module(*b.se_reduce));
    row(s.name + "_se_expand", "Conv2D", {-1, 1, 1, c}, numel_of_module(*b.se_expand));
    map(s.name + "_se_excite", "Multiply");
    conv(s.name + "_project_conv", *b.project_conv, 1, s.filters_out, "Conv2D");
    map(s.name + "_project_bn", "BatchNormalization", numel_of_module(*b.project_bn));
    if (s.has_residual()) {
      EMBER_CHECK(h == in_h && w == in_w && c == in_c, name(), ": ", s.name,
                  " changes the shape of its residual");
      if (b.drop_rate > 0.0) map(s.name + "_drop", "Dropout");  // Keras omits it at rate 0
      map(s.name + "_add", "Add");
    }
  }
  conv("top_conv", *top_conv_, 1, config_.head_filters, "Conv2D");
  map("top_bn", "BatchNormalization", numel_of_module(*top_bn_));
  map("top_activation", "Activation");
  row("avg_pool", "GlobalAveragePooling2D", {-1, c});
  row("top_dropout", "Dropout", {-1, c});
  row("predictions", "Dense", {-1, num_classes_}, numel_of_module(*predictions_));
  return rows;
}

namespace {

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string keras_shape(const Shape& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += shape[i] < 0 ? "None" : std::to_string(shape[i]);
  }
  return out + ")";
}

}  // namespace

std::string EfficientNet::summary(int64_t H, int64_t W) const {
  const std::vector<EfficientNetSummaryRow> rows = summary_rows(H, W);
  constexpr int kLayer = 46, kShape = 24, kParams = 12;
  const std::string rule(kLayer + kShape + kParams, '_');
  const std::string double_rule(kLayer + kShape + kParams, '=');
  std::ostringstream out;
  out << "Model: \"" << config_.name << "\" (" << num_classes_ << " classes, input " << H << "x"
      << W << ")\n"
      << rule << "\n"
      << std::left << std::setw(kLayer) << " Layer (type)" << std::setw(kShape) << "Output Shape"
      << "Param #\n"
      << double_rule << "\n";
  for (const EfficientNetSummaryRow& r : rows) {
    out << std::left << std::setw(kLayer) << (" " + r.name + " (" + r.type + ")")
        << std::setw(kShape) << keras_shape(r.output) << with_commas(r.params) << "\n";
  }
  const int64_t trainable = num_trainable_parameters();
  const int64_t frozen = num_non_trainable_parameters();
  out << double_rule << "\n"
      << "Total params: " << with_commas(trainable + frozen) << "\n"
      << "Trainable params: " << with_commas(trainable) << "\n"
      << "Non-trainable params: " << with_commas(frozen) << "\n"
      << rule << "\n";
  return out.str();
}

std::shared_ptr<EfficientNet> efficientnet_b2(RandomGenerator& gen, int64_t num_classes,
                                              const EfficientNetOptions& options) {
  return std::make_shared<EfficientNet>(efficientnet_b2_config(), num_classes, gen, options);
}

}  // namespace ember::models
