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

// What a set was made of, as one line for a checkpoint: "<N> images, lists crc32 <8 hex>", the
// CRC-32 (tensor/checksum.h) running over the class names, then every file name with its label.
// A resumed training compares it with its checkpoint's, so a changed data folder, split list or
// subset seed is refused instead of silently continuing on other data.
std::string list_digest(const ImageSet& set);

}  // namespace ember::datasets
