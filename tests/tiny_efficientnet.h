// The smallest EfficientNet the model tests build (test_efficientnet.cpp, test_pretrained.cpp,
// test_cuda_efficientnet.cpp): two MBConv blocks, block1a (no expansion, stride 2, no residual)
// and block2a (expansion 2, 5x5 depthwise, residual), 8 filters, a 16-filter head.
#pragma once
#include "models/efficientnet.h"

namespace ember::testing {

inline models::EfficientNetConfig tiny_efficientnet_config() {
  models::EfficientNetConfig c;
  c.name = "tiny";
  c.stem_filters = 8;
  c.head_filters = 16;
  c.stages = {{.expand_ratio = 1, .kernel = 3, .stride = 2, .filters_in = 8, .filters_out = 8},
              {.expand_ratio = 2, .kernel = 5, .stride = 1, .filters_in = 8, .filters_out = 8}};
  return c;
}

}  // namespace ember::testing
