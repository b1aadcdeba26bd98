// Reading a folder of generated images and appending them to a training set (datasets/generated.h).
#include "datasets/generated.h"

#include <algorithm>
#include <cstring>

#include "tensor/error.h"

namespace ember::datasets {

namespace fs = std::filesystem;

namespace {

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

}  // namespace

ImageSet load_generated(const fs::path& dir, const std::vector<std::string>& class_names,
                        const LoadOptions& options, int height, int width, int channels) {
  EMBER_CHECK(fs::is_directory(dir), "generated images: ", dir.string(), " is not a folder");
  // Class folders present, checked by name; then their images, sorted so the order is the same
  // on every file system.
  std::vector<std::pair<std::string, int64_t>> items;  // (<Class>/<name>, label)
  std::vector<std::string> folders;
  for (const fs::directory_entry& e : fs::directory_iterator(dir))
    if (e.is_directory()) folders.push_back(e.path().filename().string());
  std::sort(folders.begin(), folders.end());
  for (const std::string& folder : folders) {
    const auto it = std::find(class_names.begin(), class_names.end(), folder);
    EMBER_CHECK(it != class_names.end(), "generated images: folder ", (dir / folder).string(),
                " is not a class name");
    std::vector<std::string> names;
    for (const fs::directory_entry& e : fs::directory_iterator(dir / folder))
      if (e.is_regular_file() && is_image_name(e.path())) names.push_back(e.path().filename().string());
    EMBER_CHECK(!names.empty(), "generated images: class folder ", (dir / folder).string(),
                " holds no .png or .jpg files");
    std::sort(names.begin(), names.end());
    const int64_t label = it - class_names.begin();
    for (const std::string& name : names) items.emplace_back(folder + "/" + name, label);
  }
  EMBER_CHECK(!items.empty(), "generated images: ", dir.string(), " has no class folders");
  // load_images reads image_dir/<Class>/<name>; with names already "<Class>/<name>", pass a
  // class list whose entries are empty so the path is dir/""/<Class>/<name> = dir/<Class>/<name>.
  const std::vector<std::string> no_prefix(class_names.size(), "");
  ImageSet set = load_images(dir, items, no_prefix, options, nullptr, height, width, channels);
  set.class_names = class_names;
  return set;
}

ImageSet concat_sets(const ImageSet& a, const ImageSet& b) {
  EMBER_CHECK(a.class_names == b.class_names, "concat_sets: the two sets have different classes");
  EMBER_CHECK(a.images.shape().size() == 4 && b.images.shape().size() == 4 &&
                  std::equal(a.images.shape().begin() + 1, a.images.shape().end(),
                             b.images.shape().begin() + 1),
              "concat_sets: image shapes differ: ", a.images.describe(), " and ",
              b.images.describe());
  const Shape& s = a.images.shape();
  const size_t image_bytes = static_cast<size_t>(s[1] * s[2] * s[3]);
  const int64_t n = a.size() + b.size();
  ImageSet out;
  out.class_names = a.class_names;
  out.images = empty({n, s[1], s[2], s[3]}, {.dtype = DType::UInt8});
  uint8_t* dst = out.images.data<uint8_t>();
  const Tensor a_images = a.images.contiguous(), b_images = b.images.contiguous();
  std::memcpy(dst, a_images.data<uint8_t>(), image_bytes * a.size());
  std::memcpy(dst + image_bytes * a.size(), b_images.data<uint8_t>(), image_bytes * b.size());
  std::vector<int64_t> labels = a.labels.to_vector<int64_t>();
  const std::vector<int64_t> b_labels = b.labels.to_vector<int64_t>();
  labels.insert(labels.end(), b_labels.begin(), b_labels.end());
  out.labels = from_vector<int64_t>(labels, {n}, {.dtype = DType::Int64});
  out.files = a.files;
  out.files.insert(out.files.end(), b.files.begin(), b.files.end());
  return out;
}

}  // namespace ember::datasets
