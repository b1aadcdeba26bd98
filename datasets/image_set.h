// A labelled set of images held in memory: the unit every dataset function takes and returns.
// images: uint8 [N, H, W, C] on the CPU, contiguous (NHWC, like every activation in ember);
// labels: int64 [N] in [0, class_names.size()); files[i]: where image i came from (a file name
// such as "Highway_12.jpg", for audit logs). All three have N entries.
#pragma once
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ember::datasets {

struct ImageSet {
  Tensor images;
  Tensor labels;
  std::vector<std::string> files;
  std::vector<std::string> class_names;

  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
};

}  // namespace ember::datasets
