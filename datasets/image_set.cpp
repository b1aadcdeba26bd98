// The list digest of an ImageSet (see image_set.h).
#include "datasets/image_set.h"

#include "tensor/checksum.h"

namespace ember::datasets {

std::string list_digest(const ImageSet& set) {
  uint32_t crc = 0;
  // Each field is followed by a byte that no name holds, so ("ab", "c") and ("a", "bc") differ.
  auto add = [&crc](const std::string& text) {
    crc = crc32(text, crc);
    crc = crc32("\n", crc);
  };
  for (const std::string& name : set.class_names) add(name);
  add("");
  const std::vector<int64_t> labels =
      set.size() > 0 ? set.labels.to_vector<int64_t>() : std::vector<int64_t>{};
  for (size_t i = 0; i < labels.size(); ++i)
    add((i < set.files.size() ? set.files[i] : std::string()) + "\t" + std::to_string(labels[i]));
  return std::to_string(set.size()) + " images, lists crc32 " + crc32_hex(crc);
}

}  // namespace ember::datasets
