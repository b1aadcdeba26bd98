// The EfficientNet block table and the convolution list derived from it (see the header for the
// Keras reference and why TF 'same' padding reproduces Keras's explicit padding).
#include "models/efficientnet_config.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace ember::models {

int64_t round_filters(int64_t filters, double width_coefficient, int64_t divisor) {
  EMBER_CHECK(filters >= 1 && width_coefficient > 0 && divisor >= 1,
              "round_filters: need filters >= 1, width > 0, divisor >= 1; got ", filters, ", ",
              width_coefficient, ", ", divisor);
  // Keras: new = max(divisor, int(f + divisor / 2) // divisor * divisor), all on Python floats;
  // int() truncates, and the value is positive, so floor does the same here.
  const double f = static_cast<double>(filters) * width_coefficient;
  const int64_t d = divisor;
  int64_t rounded = std::max<int64_t>(
      d, static_cast<int64_t>(std::floor(f + static_cast<double>(d) / 2.0)) / d * d);
  if (static_cast<double>(rounded) < 0.9 * f) rounded += d;
  return rounded;
}

int64_t round_repeats(int64_t repeats, double depth_coefficient) {
  EMBER_CHECK(repeats >= 1 && depth_coefficient > 0,
              "round_repeats: need repeats >= 1 and depth > 0; got ", repeats, ", ",
              depth_coefficient);
  return static_cast<int64_t>(std::ceil(depth_coefficient * static_cast<double>(repeats)));
}

std::vector<EfficientNetStage> efficientnet_b0_stages() {
  // expand, kernel, stride, filters in, filters out, repeats
  return {
      {1, 3, 1, 32, 16, 1},   {6, 3, 2, 16, 24, 2},   {6, 5, 2, 24, 40, 2},
      {6, 3, 2, 40, 80, 3},   {6, 5, 1, 80, 112, 3},  {6, 5, 2, 112, 192, 4},
      {6, 3, 1, 192, 320, 1},
  };
}

EfficientNetConfig efficientnet_config(const std::string& name, double width_coefficient,
                                       double depth_coefficient, int64_t default_resolution,
                                       double dropout_rate) {
  EfficientNetConfig c;
  c.name = name;
  c.width_coefficient = width_coefficient;
  c.depth_coefficient = depth_coefficient;
  c.default_resolution = default_resolution;
  c.dropout_rate = dropout_rate;
  c.stem_filters = round_filters(32, width_coefficient, c.depth_divisor);
  c.head_filters = round_filters(1280, width_coefficient, c.depth_divisor);
  for (EfficientNetStage s : efficientnet_b0_stages()) {
    s.filters_in = round_filters(s.filters_in, width_coefficient, c.depth_divisor);
    s.filters_out = round_filters(s.filters_out, width_coefficient, c.depth_divisor);
    s.repeats = round_repeats(s.repeats, depth_coefficient);
    c.stages.push_back(s);
  }
  return c;
}

EfficientNetConfig efficientnet_b0_config() {
  return efficientnet_config("efficientnetb0", 1.0, 1.0, 224, 0.2);
}

EfficientNetConfig efficientnet_b2_config() {
  return efficientnet_config("efficientnetb2", 1.1, 1.2, 260, 0.3);
}

std::vector<EfficientNetBlock> efficientnet_blocks(const EfficientNetConfig& config) {
  std::vector<EfficientNetBlock> blocks;
  for (size_t si = 0; si < config.stages.size(); ++si) {
    const EfficientNetStage& s = config.stages[si];
    for (int64_t j = 0; j < s.repeats; ++j) {
      EfficientNetBlock b;
      // Keras names blocks "block{stage + 1}{letter}"; past 26 repeats it would need more letters,
      // which no EfficientNet reaches (B7's longest stage has 18).
      b.name = "block" + std::to_string(si + 1) + static_cast<char>('a' + j);
      b.stage = static_cast<int64_t>(si);
      b.index = j;
      b.filters_in = j == 0 ? s.filters_in : s.filters_out;
      b.filters_out = s.filters_out;
      b.expand_ratio = s.expand_ratio;
      b.expanded = b.filters_in * s.expand_ratio;
      b.kernel = s.kernel;
      b.stride = j == 0 ? s.stride : 1;
      b.se_filters = std::max<int64_t>(
          1, static_cast<int64_t>(static_cast<double>(b.filters_in) * config.se_ratio));
      blocks.push_back(b);
    }
  }
  return blocks;
}

const char* conv_role_name(ConvRole role) {
  switch (role) {
    case ConvRole::Stem: return "stem";
    case ConvRole::Expand: return "expand";
    case ConvRole::Depthwise: return "depthwise";
    case ConvRole::SeReduce: return "se_reduce";
    case ConvRole::SeExpand: return "se_expand";
    case ConvRole::Project: return "project";
    case ConvRole::Head: return "head";
  }
  return "?";
}

double EfficientNetConv::flops() const {
  return 2.0 * static_cast<double>(N) * static_cast<double>(P) * static_cast<double>(Q) *
         static_cast<double>(K) * static_cast<double>(R * S * (C / groups));
}

namespace {

EfficientNetConv make_conv(std::string name, ConvRole role, int64_t block, int64_t N, int64_t H,
                           int64_t W, int64_t C, int64_t K, int64_t kernel, int64_t stride,
                           int64_t groups) {
  EfficientNetConv c;
  c.name = std::move(name);
  c.role = role;
  c.block = block;
  c.N = N, c.H = H, c.W = W, c.C = C, c.K = K, c.R = kernel, c.S = kernel;
  c.stride = stride, c.groups = groups;
  c.params = same_padding(H, W, kernel, kernel, stride, stride, groups);
  c.P = (H + c.params.pad_top + c.params.pad_bottom - kernel) / stride + 1;
  c.Q = (W + c.params.pad_left + c.params.pad_right - kernel) / stride + 1;
  c.has_bias = role == ConvRole::SeReduce || role == ConvRole::SeExpand;
  c.has_batch_norm = !c.has_bias;
  return c;
}

}  // namespace

std::vector<EfficientNetConv> efficientnet_convs(const EfficientNetConfig& config, int64_t N,
                                                 int64_t H, int64_t W) {
  EMBER_CHECK(N >= 1 && H >= 1 && W >= 1, "efficientnet_convs: need N, H, W >= 1, got ", N, ", ",
              H, ", ", W);
  std::vector<EfficientNetConv> convs;
  auto add = [&](EfficientNetConv c) {
    H = c.P, W = c.Q;  // the next layer reads this one's output (SE convs are pushed directly)
    convs.push_back(std::move(c));
  };
  add(make_conv("stem_conv", ConvRole::Stem, -1, N, H, W, 3, config.stem_filters, 3, 2, 1));
  int64_t C = config.stem_filters;
  const std::vector<EfficientNetBlock> blocks = efficientnet_blocks(config);
  for (size_t bi = 0; bi < blocks.size(); ++bi) {
    const EfficientNetBlock& b = blocks[bi];
    const int64_t block = static_cast<int64_t>(bi);
    EMBER_CHECK(C == b.filters_in, "efficientnet_convs: block ", b.name, " expects ",
                b.filters_in, " input channels but the previous layer gives ", C);
    if (b.has_expand())
      add(make_conv(b.name + "_expand_conv", ConvRole::Expand, block, N, H, W, C, b.expanded, 1,
                    1, 1));
    add(make_conv(b.name + "_dwconv", ConvRole::Depthwise, block, N, H, W, b.expanded, b.expanded,
                  b.kernel, b.stride, b.expanded));
    // Squeeze-and-excite: global average pool to 1 x 1, reduce, expand, then a broadcast
    // multiply back onto the depthwise output, whose spatial size stays current.
    convs.push_back(make_conv(b.name + "_se_reduce", ConvRole::SeReduce, block, N, 1, 1,
                              b.expanded, b.se_filters, 1, 1, 1));
    convs.push_back(make_conv(b.name + "_se_expand", ConvRole::SeExpand, block, N, 1, 1,
                              b.se_filters, b.expanded, 1, 1, 1));
    add(make_conv(b.name + "_project_conv", ConvRole::Project, block, N, H, W, b.expanded,
                  b.filters_out, 1, 1, 1));
    C = b.filters_out;
  }
  add(make_conv("top_conv", ConvRole::Head, -1, N, H, W, C, config.head_filters, 1, 1, 1));
  return convs;
}

EfficientNetParamCount efficientnet_param_count(const EfficientNetConfig& config,
                                                int64_t classes) {
  EfficientNetParamCount count;
  // The parameter count does not depend on the input size; any valid one will do.
  for (const EfficientNetConv& c : efficientnet_convs(config, 1, 32, 32)) {
    count.conv += c.weight_count();
    if (c.has_batch_norm) count.batch_norm += 4 * c.K;
  }
  count.dense = config.head_filters * classes + classes;
  count.normalization = 3 + 3 + 1;
  return count;
}

}  // namespace ember::models
