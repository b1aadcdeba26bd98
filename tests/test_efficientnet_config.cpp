// The EfficientNet table (models/efficientnet_config.h) against Keras's EfficientNetB2 / B0:
// round_filters / round_repeats values, B2's stage repeats and channels, block layout, the conv
// list's geometry at 64x64 (and that ops/conv.h accepts every entry with the output it claims),
// and the parameter count against the counts Keras's model.summary() prints.
// Run: ember_tests --gtest_filter='EfficientNetConfig*'.
#include <gtest/gtest.h>

#include <map>

#include "bench/efficientnet_geometry.h"
#include "models/efficientnet_config.h"
#include "ops/ops.h"

namespace ember::models {
namespace {

TEST(EfficientNetConfig, RoundFiltersMatchesKeras) {
  // B2 (width 1.1): the B0 widths 32, 16, 24, 40, 80, 112, 192, 320 and the head's 1280.
  const std::map<int64_t, int64_t> b2 = {{32, 32},   {16, 16},   {24, 24},   {40, 48},  {80, 88},
                                         {112, 120}, {192, 208}, {320, 352}, {1280, 1408}};
  for (const auto& [in, out] : b2) EXPECT_EQ(round_filters(in, 1.1), out) << in;
  // Rounding to the nearest multiple of 8 that would lose more than 10% goes one multiple up:
  // 19 -> int(23) // 8 * 8 = 16 < 0.9 * 19 = 17.1, so 24.
  EXPECT_EQ(round_filters(19, 1.0), 24);
  EXPECT_EQ(round_filters(20, 1.0), 24);
  EXPECT_EQ(round_filters(3, 1.0), 8);  // never below the divisor
  EXPECT_EQ(round_filters(32, 1.0), 32);
}

TEST(EfficientNetConfig, RoundRepeatsIsCeil) {
  EXPECT_EQ(round_repeats(1, 1.2), 2);
  EXPECT_EQ(round_repeats(2, 1.2), 3);
  EXPECT_EQ(round_repeats(3, 1.2), 4);
  EXPECT_EQ(round_repeats(4, 1.2), 5);
  EXPECT_EQ(round_repeats(3, 1.0), 3);
}

TEST(EfficientNetConfig, B2StagesRepeatsAndChannels) {
  const EfficientNetConfig c = efficientnet_b2_config();
  EXPECT_EQ(c.stem_filters, 32);
  EXPECT_EQ(c.head_filters, 1408);
  EXPECT_EQ(c.default_resolution, 260);
  ASSERT_EQ(c.stages.size(), 7u);
  const std::vector<int64_t> repeats = {2, 3, 3, 4, 4, 5, 2};
  const std::vector<int64_t> outs = {16, 24, 48, 88, 120, 208, 352};
  const std::vector<int64_t> kernels = {3, 3, 5, 3, 5, 5, 3};
  const std::vector<int64_t> strides = {1, 2, 2, 2, 1, 2, 1};
  int64_t in = 32;
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(c.stages[i].repeats, repeats[i]) << "stage " << i;
    EXPECT_EQ(c.stages[i].filters_in, in) << "stage " << i;
    EXPECT_EQ(c.stages[i].filters_out, outs[i]) << "stage " << i;
    EXPECT_EQ(c.stages[i].kernel, kernels[i]) << "stage " << i;
    EXPECT_EQ(c.stages[i].stride, strides[i]) << "stage " << i;
    EXPECT_EQ(c.stages[i].expand_ratio, i == 0 ? 1 : 6) << "stage " << i;
    in = outs[i];
  }
}

TEST(EfficientNetConfig, B2BlockLayout) {
  const std::vector<EfficientNetBlock> blocks = efficientnet_blocks(efficientnet_b2_config());
  ASSERT_EQ(blocks.size(), 23u);
  std::vector<int64_t> per_stage(7, 0);
  for (const EfficientNetBlock& b : blocks) ++per_stage[b.stage];
  EXPECT_EQ(per_stage, (std::vector<int64_t>{2, 3, 3, 4, 4, 5, 2}));

  // block1a: 32 -> 16, no expansion, squeeze from its 32 input channels: 8.
  EXPECT_EQ(blocks[0].name, "block1a");
  EXPECT_FALSE(blocks[0].has_expand());
  EXPECT_EQ(blocks[0].expanded, 32);
  EXPECT_EQ(blocks[0].se_filters, 8);
  EXPECT_FALSE(blocks[0].has_residual());
  // block1b: 16 -> 16, residual, squeeze 4.
  EXPECT_EQ(blocks[1].name, "block1b");
  EXPECT_EQ(blocks[1].filters_in, 16);
  EXPECT_EQ(blocks[1].se_filters, 4);
  EXPECT_TRUE(blocks[1].has_residual());
  // block2a: 16 -> 24, expanded 96, stride 2, squeeze int(16 * 0.25) = 4 (not 96 / 4).
  EXPECT_EQ(blocks[2].name, "block2a");
  EXPECT_EQ(blocks[2].expanded, 96);
  EXPECT_EQ(blocks[2].stride, 2);
  EXPECT_EQ(blocks[2].se_filters, 4);
  EXPECT_FALSE(blocks[2].has_residual());
  // block6e: 208 -> 208 at stride 1, expanded 1248, squeeze 52.
  const EfficientNetBlock& b6e = blocks[2 + 3 + 3 + 4 + 4 + 4];
  EXPECT_EQ(b6e.name, "block6e");
  EXPECT_EQ(b6e.filters_in, 208);
  EXPECT_EQ(b6e.expanded, 1248);
  EXPECT_EQ(b6e.se_filters, 52);
  EXPECT_EQ(b6e.kernel, 5);
  EXPECT_TRUE(b6e.has_residual());
  EXPECT_EQ(blocks.back().name, "block7b");
  EXPECT_EQ(blocks.back().filters_out, 352);
}

TEST(EfficientNetConfig, B2ConvListAt64x64) {
  const EfficientNetConfig c = efficientnet_b2_config();
  const std::vector<EfficientNetConv> convs = efficientnet_convs(c, 4, 64, 64);
  // stem + 21 expands (all blocks but block1a/1b) + 4 per block (dw, se reduce/expand, project)
  // + head.
  ASSERT_EQ(convs.size(), 1u + 21u + 23u * 4u + 1u);

  const EfficientNetConv& stem = convs.front();
  EXPECT_EQ(stem.name, "stem_conv");
  EXPECT_EQ(stem.input_shape(), (Shape{4, 64, 64, 3}));
  EXPECT_EQ(stem.output_shape(), (Shape{4, 32, 32, 32}));
  // TF 'same' at stride 2 on an even size: the one padding pixel goes to the bottom/right,
  // matching Keras's ZeroPadding2D(correct_pad) = ((0, 1), (0, 1)).
  EXPECT_EQ(stem.params.pad_top, 0);
  EXPECT_EQ(stem.params.pad_bottom, 1);
  EXPECT_EQ(stem.params.pad_left, 0);
  EXPECT_EQ(stem.params.pad_right, 1);

  const EfficientNetConv& head = convs.back();
  EXPECT_EQ(head.name, "top_conv");
  EXPECT_EQ(head.input_shape(), (Shape{4, 2, 2, 352}));
  EXPECT_EQ(head.output_shape(), (Shape{4, 2, 2, 1408}));

  // Per stage: depthwise output size and channels of its project conv.
  const std::vector<int64_t> spatial = {32, 16, 8, 4, 4, 2, 2};
  const std::vector<int64_t> outs = {16, 24, 48, 88, 120, 208, 352};
  const std::vector<EfficientNetBlock> blocks = efficientnet_blocks(c);
  std::vector<int64_t> depthwise_per_stage(7, 0);
  for (const EfficientNetConv& conv : convs) {
    if (conv.role == ConvRole::Stem || conv.role == ConvRole::Head) continue;
    ASSERT_GE(conv.block, 0) << conv.name;
    const EfficientNetBlock& b = blocks[conv.block];
    switch (conv.role) {
      case ConvRole::Depthwise:
        ++depthwise_per_stage[b.stage];
        EXPECT_TRUE(conv.depthwise()) << conv.name;
        EXPECT_EQ(conv.R, b.kernel) << conv.name;
        EXPECT_EQ(conv.P, spatial[b.stage]) << conv.name;
        EXPECT_EQ(conv.Q, spatial[b.stage]) << conv.name;
        EXPECT_EQ(conv.C, b.expanded) << conv.name;
        break;
      case ConvRole::SeReduce:
      case ConvRole::SeExpand:
        EXPECT_EQ(conv.H, 1) << conv.name;
        EXPECT_EQ(conv.P, 1) << conv.name;
        EXPECT_TRUE(conv.has_bias) << conv.name;
        EXPECT_EQ(conv.role == ConvRole::SeReduce ? conv.K : conv.C, b.se_filters) << conv.name;
        break;
      case ConvRole::Project:
        EXPECT_EQ(conv.K, outs[b.stage]) << conv.name;
        EXPECT_EQ(conv.P, spatial[b.stage]) << conv.name;
        break;
      case ConvRole::Expand:
        EXPECT_EQ(conv.K, b.filters_in * 6) << conv.name;
        EXPECT_EQ(conv.R, 1) << conv.name;
        break;
      default: break;
    }
  }
  EXPECT_EQ(depthwise_per_stage, (std::vector<int64_t>{2, 3, 3, 4, 4, 5, 2}));

  // A 5x5 depthwise at stride 2 on 16 -> 8 pads 1 top, 2 bottom; at stride 1 it pads 2 and 2.
  auto find = [&](const std::string& name) -> const EfficientNetConv& {
    for (const EfficientNetConv& conv : convs)
      if (conv.name == name) return conv;
    ADD_FAILURE() << "no conv named " << name;
    return convs.front();
  };
  const EfficientNetConv& dw3a = find("block3a_dwconv");
  EXPECT_EQ(dw3a.H, 16);
  EXPECT_EQ(dw3a.params.pad_top, 1);
  EXPECT_EQ(dw3a.params.pad_bottom, 2);
  const EfficientNetConv& dw3b = find("block3b_dwconv");
  EXPECT_EQ(dw3b.params.pad_top, 2);
  EXPECT_EQ(dw3b.params.pad_bottom, 2);
}

// Every entry is a convolution ops/conv.h accepts, with the output shape the table claims.
TEST(EfficientNetConfig, ConvListAgreesWithConv2d) {
  NoGradGuard no_grad;
  for (const EfficientNetConv& conv : efficientnet_convs(efficientnet_b2_config(), 1, 64, 64)) {
    const Tensor y = conv2d(zeros(conv.input_shape()), zeros(conv.weight_shape()), Tensor(),
                            conv.params);
    EXPECT_EQ(y.shape(), conv.output_shape()) << conv.name;
    const kernels::Conv2dGeometry g = bench::conv_geometry(conv);
    EXPECT_EQ(g.P, conv.P) << conv.name;
    EXPECT_EQ(g.groups, conv.groups) << conv.name;
  }
}

TEST(EfficientNetConfig, BlockParameterCountByHand) {
  // block2a of B2: expand 16*96, depthwise 3*3*96, SE reduce 96*4 + 4, SE expand 4*96 + 96,
  // project 96*24.
  int64_t n = 0;
  for (const EfficientNetConv& conv : efficientnet_convs(efficientnet_b2_config(), 1, 64, 64))
    if (conv.name.rfind("block2a_", 0) == 0) n += conv.weight_count();
  EXPECT_EQ(n, 16 * 96 + 9 * 96 + (96 * 4 + 4) + (4 * 96 + 96) + 96 * 24);
}

// Keras's model.summary() for EfficientNetB2(weights=None) (1000 classes, top included) prints
// Total params: 9,177,569 (trainable 9,109,994, non-trainable 67,575); for EfficientNetB0,
// 5,330,571 (trainable 5,288,548, non-trainable 42,023). Conv + batch norm + dense account for
// all of it but 7: Keras's input Normalization layer stores mean[3], variance[3] and a count,
// which a model that normalises its input elsewhere does not have. Non-trainable = the batch
// norms' moving mean and variance (half the batch-norm count) + those 7.
TEST(EfficientNetConfig, ParameterCountMatchesKeras) {
  const EfficientNetParamCount b2 = efficientnet_param_count(efficientnet_b2_config());
  EXPECT_EQ(b2.dense, 1408 * 1000 + 1000);
  EXPECT_EQ(b2.conv + b2.batch_norm + b2.dense, 9177562);
  EXPECT_EQ(b2.normalization, 7);
  EXPECT_EQ(b2.total(), 9177569);
  EXPECT_EQ(b2.trainable(), 9109994);
  EXPECT_EQ(b2.total() - b2.trainable(), 67575);

  const EfficientNetParamCount b0 = efficientnet_param_count(efficientnet_b0_config());
  EXPECT_EQ(b0.total(), 5330571);
  EXPECT_EQ(b0.trainable(), 5288548);
  EXPECT_EQ(b0.total() - b0.trainable(), 42023);
}

TEST(EfficientNetConfig, RejectsBadInput) {
  EXPECT_THROW(round_filters(0, 1.1), Error);
  EXPECT_THROW(round_repeats(2, 0.0), Error);
  EXPECT_THROW(efficientnet_convs(efficientnet_b2_config(), 0, 64, 64), Error);
}

}  // namespace
}  // namespace ember::models
