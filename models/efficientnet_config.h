// The EfficientNet architecture as data: the B0 block table, Keras's width/depth scaling
// (round_filters, round_repeats), the per-block layout it implies, and every convolution of the
// scaled network with its full geometry for a given input size. This is the single source of
// truth: the model (models/efficientnet.*), the GPU benchmarks (bench/) and the
// parameter count all read it.
//
// Reference: keras.applications.efficientnet (EfficientNetB0..B7): DEFAULT_BLOCKS_ARGS, its
// round_filters / round_repeats, block() and the stem/top layers, with Keras's layer names.
// Keras pads stride-2 convolutions with ZeroPadding2D(correct_pad) + 'valid', stride-1 ones with
// 'same'; for every kernel size and input parity both equal TensorFlow 'same' padding (the odd
// pixel at the bottom/right), which is what same_padding() computes, so the table uses it.
// Tested in tests/test_efficientnet_config.cpp (channels, repeats, spatial sizes, parameter count
// against Keras's 9,177,569 for B2 and 5,330,571 for B0).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ops/conv.h"

namespace ember::models {

// One row of the block table: a stage of `repeats` MBConv blocks. Only the first block of a
// stage has `stride` and `filters_in`; the others have stride 1 and filters_out in and out.
struct EfficientNetStage {
  int64_t expand_ratio = 1;
  int64_t kernel = 3;  // depthwise kernel, square
  int64_t stride = 1;
  int64_t filters_in = 0;
  int64_t filters_out = 0;
  int64_t repeats = 1;
};

struct EfficientNetConfig {
  std::string name;
  double width_coefficient = 1.0;
  double depth_coefficient = 1.0;
  int64_t depth_divisor = 8;
  int64_t stem_filters = 32;    // scaled by round_filters
  int64_t head_filters = 1280;  // scaled by round_filters
  double se_ratio = 0.25;       // squeeze channels = max(1, int(block filters_in * se_ratio))
  double dropout_rate = 0.2;    // before the classifier
  double drop_connect_rate = 0.2;
  int64_t default_resolution = 224;
  std::vector<EfficientNetStage> stages;  // already scaled
};

// Keras round_filters: filters * width rounded to the nearest multiple of divisor (at least
// divisor), bumped up one divisor when rounding lost more than 10%.
int64_t round_filters(int64_t filters, double width_coefficient, int64_t divisor = 8);
// Keras round_repeats: ceil(depth_coefficient * repeats).
int64_t round_repeats(int64_t repeats, double depth_coefficient);

// The unscaled B0 table (Keras DEFAULT_BLOCKS_ARGS).
std::vector<EfficientNetStage> efficientnet_b0_stages();
// B0's table scaled by (width, depth); stem and head filters scaled too.
EfficientNetConfig efficientnet_config(const std::string& name, double width_coefficient,
                                       double depth_coefficient, int64_t default_resolution,
                                       double dropout_rate);
EfficientNetConfig efficientnet_b0_config();  // width 1.0, depth 1.0, 224, dropout 0.2
EfficientNetConfig efficientnet_b2_config();  // width 1.1, depth 1.2, 260, dropout 0.3

// One MBConv block after expanding the stages' repeats.
struct EfficientNetBlock {
  std::string name;      // Keras prefix: "block1a", "block1b", "block2a", ...
  int64_t stage = 0;     // 0-based row of the table
  int64_t index = 0;     // 0-based position inside its stage
  int64_t filters_in = 0, filters_out = 0;
  int64_t expand_ratio = 1;
  int64_t expanded = 0;  // filters_in * expand_ratio: the depthwise / SE channel count
  int64_t kernel = 3, stride = 1;
  int64_t se_filters = 0;  // squeeze channels, from filters_in (not from `expanded`)
  bool has_expand() const { return expand_ratio != 1; }
  // Identity shortcut (with drop-connect) when shapes allow it, as in Keras (id_skip is always on).
  bool has_residual() const { return stride == 1 && filters_in == filters_out; }
};

std::vector<EfficientNetBlock> efficientnet_blocks(const EfficientNetConfig& config);

enum class ConvRole { Stem, Expand, Depthwise, SeReduce, SeExpand, Project, Head };
const char* conv_role_name(ConvRole role);

// One convolution of the network, with the geometry it runs at. Activations NHWC, filters KRSC.
struct EfficientNetConv {
  std::string name;  // Keras layer name: "stem_conv", "block2a_expand_conv", ..., "top_conv"
  ConvRole role = ConvRole::Stem;
  int64_t block = -1;  // index into efficientnet_blocks(); -1 for the stem and the head
  int64_t N = 0, H = 0, W = 0, C = 0;  // input
  int64_t K = 0, R = 1, S = 1;         // filter
  int64_t stride = 1, groups = 1;
  int64_t P = 0, Q = 0;                // output
  Conv2dParams params;                 // TF 'same' padding (same_padding)
  bool has_bias = false;               // only the SE convolutions have a bias
  bool has_batch_norm = false;         // stem, expand, depthwise, project, head

  bool depthwise() const { return groups > 1 && groups == C && groups == K; }
  Shape input_shape() const { return {N, H, W, C}; }
  Shape weight_shape() const { return {K, R, S, C / groups}; }
  Shape output_shape() const { return {N, P, Q, K}; }
  int64_t weight_count() const { return K * R * S * (C / groups) + (has_bias ? K : 0); }
  // Multiply-adds times two, for one direction (forward, dgrad and wgrad cost the same).
  double flops() const;
};

// Every convolution of the network in execution order for an N x H x W x 3 input: stem, then per
// block expand (if any), depthwise, SE reduce, SE expand (both 1x1 on the pooled 1 x 1 map),
// project, and finally the head (Keras "top_conv").
std::vector<EfficientNetConv> efficientnet_convs(const EfficientNetConfig& config, int64_t N,
                                                 int64_t H, int64_t W);

// Parameter count as Keras reports it (trainable and non-trainable together).
struct EfficientNetParamCount {
  int64_t conv = 0;        // conv kernels, plus the SE convolutions' biases
  int64_t batch_norm = 0;  // 4 per channel: gamma, beta, moving mean, moving variance
  int64_t dense = 0;       // the classifier: head_filters * classes + classes
  int64_t normalization = 0;  // Keras's input Normalization layer: mean[3], variance[3], count
  int64_t trainable() const { return conv + batch_norm / 2 + dense; }
  int64_t total() const { return conv + batch_norm + dense + normalization; }
};
EfficientNetParamCount efficientnet_param_count(const EfficientNetConfig& config,
                                                int64_t classes = 1000);

}  // namespace ember::models
