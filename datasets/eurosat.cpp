// EuroSAT RGB loading (contract in eurosat.h): folder and list checks that name the offending
// file, a std::thread pool that decodes into one NHWC tensor in list order, and the cache in
// front of it. Tested in tests/test_datasets_eurosat.cpp.
#include "datasets/eurosat.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "datasets/image_cache.h"
#include "datasets/image_io.h"
#include "ops/random.h"
#include "tensor/error.h"

namespace fs = std::filesystem;

namespace ember::datasets {
namespace {

bool is_data_root(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p / "EuroSAT_RGB", ec);
}

std::string class_of(const std::string& name) {
  const size_t us = name.rfind('_');
  return us == std::string::npos ? std::string() : name.substr(0, us);
}

bool ends_with_jpg(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg";
}

int64_t class_index(const std::vector<std::string>& class_names, const std::string& cls) {
  const auto it = std::find(class_names.begin(), class_names.end(), cls);
  return it == class_names.end() ? -1 : it - class_names.begin();
}

}  // namespace

const std::vector<std::string>& eurosat_class_names() {
  static const std::vector<std::string> names = {
      "AnnualCrop", "Forest",        "HerbaceousVegetation", "Highway", "Industrial",
      "Pasture",    "PermanentCrop", "Residential",          "River",   "SeaLake"};
  return names;
}

fs::path resolve_data_root(const std::string& flag) {
  if (!flag.empty()) {
    std::error_code ec;
    EMBER_CHECK(is_data_root(flag), "--data ", flag, ": no EuroSAT_RGB/ folder there",
                fs::is_directory(fs::path(flag) / "Forest", ec)
                    ? " (give the folder that holds EuroSAT_RGB/, not EuroSAT_RGB itself)"
                    : "");
    return flag;
  }
  if (const char* env = std::getenv("EMBER_DATA"); env != nullptr && *env) {
    EMBER_CHECK(is_data_root(env), "EMBER_DATA=", env, ": no EuroSAT_RGB/ folder there");
    return env;
  }
  std::vector<fs::path> places;
#ifdef EMBER_SOURCE_DIR
  places.push_back(fs::path(EMBER_SOURCE_DIR) / "data");
  places.push_back(fs::path(EMBER_SOURCE_DIR) / ".." / "shared" / "data");
#endif
  std::error_code ec;
  const fs::path cwd = fs::current_path(ec);
  if (!ec) {
    places.push_back(cwd / "data");
    places.push_back(cwd / ".." / "shared" / "data");
  }
  std::string tried;
  for (const fs::path& p : places) {
    const fs::path place = p.lexically_normal();
    if (is_data_root(place)) return place;
    tried += "\n  " + place.string();
  }
  EMBER_FAIL("EuroSAT data not found: no EuroSAT_RGB/ folder under --data (not given), EMBER_DATA "
             "(not set) or any of:", tried, "\n(see README.md, 'Data')");
}

std::vector<std::string> read_class_folders(const fs::path& image_dir) {
  std::error_code ec;
  EMBER_CHECK(fs::is_directory(image_dir, ec), "image folder ", image_dir.string(), " does not exist");
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(image_dir, ec))
    if (entry.is_directory()) found.push_back(entry.path().filename().string());
  EMBER_CHECK(!ec, "cannot list ", image_dir.string(), ": ", ec.message());
  std::sort(found.begin(), found.end());
  const std::vector<std::string>& expected = eurosat_class_names();
  for (const std::string& cls : expected)
    EMBER_CHECK(std::binary_search(found.begin(), found.end(), cls), "class folder ",
                (image_dir / cls).string(), " is missing");
  for (const std::string& cls : found)
    EMBER_CHECK(class_index(expected, cls) >= 0, "unexpected folder ", (image_dir / cls).string(),
                " (EuroSAT RGB has exactly the 10 classes AnnualCrop ... SeaLake)");
  for (const std::string& cls : found) {
    bool any = false;
    for (const auto& entry : fs::directory_iterator(image_dir / cls, ec))
      if (entry.is_regular_file() && ends_with_jpg(entry.path())) { any = true; break; }
    EMBER_CHECK(any, "class folder ", (image_dir / cls).string(), " is empty (no .jpg files)");
  }
  return found;
}

std::vector<std::pair<std::string, int64_t>> read_split_list(
    const fs::path& list_path, const fs::path& image_dir,
    const std::vector<std::string>& class_names) {
  std::ifstream in(list_path);
  EMBER_CHECK(in.good(), "cannot open split list ", list_path.string(), ": ", std::strerror(errno));
  std::vector<std::pair<std::string, int64_t>> items;
  std::unordered_set<std::string> seen;
  std::string line;
  int64_t line_no = 0;
  // getline returns the last line whether or not a newline ends it.
  while (std::getline(in, line)) {
    ++line_no;
    const size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) continue;  // blank line
    const std::string name = line.substr(b, line.find_last_not_of(" \t\r") - b + 1);
    const std::string where = list_path.string() + ":" + std::to_string(line_no) + ": ";
    const int64_t label = class_index(class_names, class_of(name));
    EMBER_CHECK(label >= 0, where, "'", name, "' does not start with a known class name");
    const fs::path file = image_dir / class_names[label] / name;
    std::error_code ec;
    EMBER_CHECK(fs::is_regular_file(file, ec), where, "file ", file.string(), " does not exist");
    EMBER_CHECK(seen.insert(name).second, where, "'", name, "' is listed twice");
    items.emplace_back(name, label);
  }
  EMBER_CHECK(!in.bad(), "cannot read split list ", list_path.string());
  EMBER_CHECK(!items.empty(), "split list ", list_path.string(), " names no files");
  return items;
}

namespace {

using Items = std::vector<std::pair<std::string, int64_t>>;

// What the decoded cache is keyed on: each image's name, label, size and modification time.
std::vector<CacheEntry> cache_entries(const fs::path& image_dir, const Items& items,
                                      const std::vector<std::string>& class_names) {
  std::vector<CacheEntry> entries(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& [name, label] = items[i];
    EMBER_CHECK(label >= 0 && label < static_cast<int64_t>(class_names.size()), "label ", label,
                " of ", name, " is out of range");
    const fs::path file = image_dir / class_names[label] / name;
    std::error_code ec;
    const uint64_t size = fs::file_size(file, ec);
    EMBER_CHECK(!ec, "image ", file.string(), ": ", ec.message());
    const auto mtime = fs::last_write_time(file, ec);
    EMBER_CHECK(!ec, "image ", file.string(), ": ", ec.message());
    entries[i] = {name, label, size,
                  std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count()};
  }
  return entries;
}

// The images from the decoded cache when it holds exactly these entries; otherwise nothing, with
// the reason in stats.cache_note. A writer killed mid-write (hundreds of MB) leaves its
// temporary file: removed here, the next time anyone loads through this cache folder (failing
// to is a note, as for the cache).
std::optional<Tensor> read_cache(const fs::path& cache_dir, const fs::path& image_dir,
                                 const std::vector<CacheEntry>& entries, const LoadOptions& options,
                                 int height, int width, int channels, LoadStats& stats) {
  try {
    for (const std::string& leftover : remove_stale_cache_files(cache_dir))
      if (options.verbose)
        std::cerr << "ember: decoded cache: removed " << leftover << ", left by a killed writer\n";
  } catch (const Error& e) {
    if (options.verbose) std::cerr << "ember: decoded cache: " << e.what() << "\n";
  }
  stats.cache_file = cache_path(cache_dir, image_dir, entries);
  auto cached = read_image_cache(stats.cache_file, entries, height, width, channels, &stats.cache_note);
  if (cached) {
    stats.from_cache = true;
    stats.cache_note = "loaded";
  } else if (options.verbose && stats.cache_note != "absent") {
    std::cerr << "ember: decoded cache " << stats.cache_file.string() << " is " << stats.cache_note
              << "; rebuilding it\n";
  }
  return cached;
}

// Decodes every image into one uint8 [n, height, width, channels] tensor on `threads` threads.
// Reports the first failure in list order, so the message does not depend on scheduling.
Tensor decode_all(const fs::path& image_dir, const Items& items,
                  const std::vector<std::string>& class_names, int threads, int height, int width,
                  int channels) {
  const int64_t n = static_cast<int64_t>(items.size());
  Tensor images = empty({n, height, width, channels}, {.dtype = DType::UInt8});
  uint8_t* out = images.data<uint8_t>();
  const size_t image_bytes = static_cast<size_t>(height) * width * channels;
  std::vector<std::string> errors(items.size());
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    for (int64_t i; (i = next.fetch_add(1)) < n;) {
      try {
        decode_image_into(image_dir / class_names[items[i].second] / items[i].first, height, width,
                          channels, out + i * image_bytes);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    }
  };
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  threads = std::clamp<int>(threads, 1, static_cast<int>(std::max<int64_t>(n, 1)));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  int64_t failed = 0;
  const std::string* first = nullptr;
  for (const std::string& e : errors)
    if (!e.empty()) { ++failed; if (first == nullptr) first = &e; }
  // Rethrown as is (not through EMBER_FAIL), so the message keeps one source location.
  if (first != nullptr)
    throw Error(*first + (failed > 1 ? " (and " + std::to_string(failed - 1) + " more bad images)" : ""));
  return images;
}

// A cache is an optimisation: failing to write it must not fail the load, only leave a note.
void write_cache(const std::vector<CacheEntry>& entries, const Tensor& images,
                 const LoadOptions& options, LoadStats& stats) {
  try {
    write_image_cache(stats.cache_file, entries, images);
    if (stats.cache_note == "absent") stats.cache_note = "written";
    else stats.cache_note += "; rebuilt";
  } catch (const Error& e) {
    stats.cache_note = std::string("not written: ") + e.what();
    if (options.verbose) std::cerr << "ember: decoded cache " << stats.cache_note << "\n";
  }
}

}  // namespace

ImageSet load_images(const fs::path& image_dir, const Items& items,
                     const std::vector<std::string>& class_names, const LoadOptions& options,
                     LoadStats* stats, int height, int width, int channels) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<CacheEntry> entries = cache_entries(image_dir, items, class_names);
  std::vector<int64_t> labels;
  ImageSet set;
  set.class_names = class_names;
  for (const auto& [name, label] : items) {
    labels.push_back(label);
    set.files.push_back(name);
  }
  set.labels = from_vector<int64_t>(labels, {static_cast<int64_t>(items.size())}, {.dtype = DType::Int64});

  LoadStats local;
  const fs::path cache_dir = options.cache_dir.empty() ? default_cache_dir() : options.cache_dir;
  std::optional<Tensor> cached;
  if (options.use_cache)
    cached = read_cache(cache_dir, image_dir, entries, options, height, width, channels, local);
  else
    local.cache_note = "disabled";
  if (cached) {
    set.images = std::move(*cached);
  } else {
    set.images = decode_all(image_dir, items, class_names, options.threads, height, width, channels);
    if (options.use_cache) write_cache(entries, set.images, options, local);
  }
  local.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (stats != nullptr) *stats = local;
  return set;
}

ImageSet select_images(const ImageSet& set, const std::vector<int64_t>& indices) {
  const auto& s = set.images.shape();
  const int64_t n = static_cast<int64_t>(indices.size());
  const size_t image_bytes = static_cast<size_t>(s[1] * s[2] * s[3]);
  ImageSet out;
  out.class_names = set.class_names;
  out.images = empty({n, s[1], s[2], s[3]}, {.dtype = DType::UInt8});
  std::vector<int64_t> labels(indices.size());
  const int64_t* src_labels = set.labels.data<int64_t>();
  const uint8_t* src = set.images.data<uint8_t>();
  uint8_t* dst = out.images.data<uint8_t>();
  for (int64_t j = 0; j < n; ++j) {
    const int64_t i = indices[j];
    EMBER_CHECK(i >= 0 && i < set.size(), "select_images: index ", i, " out of range for ",
                set.size(), " images");
    std::memcpy(dst + j * image_bytes, src + i * image_bytes, image_bytes);
    labels[j] = src_labels[i];
    out.files.push_back(set.files[i]);
  }
  out.labels = from_vector<int64_t>(labels, {n}, {.dtype = DType::Int64});
  return out;
}

SplitLists stratified_split(const fs::path& image_dir, const std::vector<std::string>& class_names,
                            uint64_t seed) {
  SplitLists lists;
  RandomGenerator gen(seed);
  for (size_t c = 0; c < class_names.size(); ++c) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(image_dir / class_names[c], ec))
      if (entry.is_regular_file() && ends_with_jpg(entry.path()))
        names.push_back(entry.path().filename().string());
    EMBER_CHECK(!ec, "cannot list ", (image_dir / class_names[c]).string(), ": ", ec.message());
    EMBER_CHECK(!names.empty(), "class folder ", (image_dir / class_names[c]).string(),
                " is empty (no .jpg files)");
    // Numeric order (Forest_2 before Forest_10) so the permutation does not depend on the
    // directory order the file system happens to return.
    auto number = [](const std::string& s) {
      const size_t us = s.rfind('_');
      return us == std::string::npos ? -1L : std::atol(s.c_str() + us + 1);
    };
    std::sort(names.begin(), names.end(), [&](const std::string& a, const std::string& b) {
      return std::make_pair(number(a), a) < std::make_pair(number(b), b);
    });
    const int64_t count = static_cast<int64_t>(names.size());
    const int64_t n_train = (60 * count + 50) / 100, n_val = (20 * count + 50) / 100;
    const std::vector<int64_t> perm = randperm(count, gen).to_vector<int64_t>();
    for (int64_t k = 0; k < count; ++k) {
      auto& dst = k < n_train ? lists.train : k < n_train + n_val ? lists.val : lists.test;
      dst.emplace_back(names[perm[k]], static_cast<int64_t>(c));
    }
  }
  return lists;
}

EuroSat load_eurosat(const fs::path& root, const LoadOptions& options, uint64_t split_seed) {
  EuroSat data;
  data.root = root;
  const fs::path image_dir = root / "EuroSAT_RGB";
  const std::vector<std::string> classes = read_class_folders(image_dir);
  const char* split_names[3] = {"train", "val", "test"};
  std::vector<fs::path> lists;
  std::string missing;
  int missing_count = 0;
  for (const char* s : split_names) {
    lists.push_back(root / "splits" / (std::string("eurosat-") + s + ".txt"));
    std::error_code ec;
    if (!fs::exists(lists.back(), ec)) missing += " " + lists.back().string(), ++missing_count;
  }
  SplitLists split;
  if (missing_count == 0) {
    split.train = read_split_list(lists[0], image_dir, classes);
    split.val = read_split_list(lists[1], image_dir, classes);
    split.test = read_split_list(lists[2], image_dir, classes);
    // The three lists must not share a file: a shared one would leak test images into training.
    std::unordered_set<std::string> seen;
    for (int s = 0; s < 3; ++s)
      for (const auto& item : (s == 0 ? split.train : s == 1 ? split.val : split.test))
        EMBER_CHECK(seen.insert(item.first).second, "split list ", lists[s].string(), " names ",
                    item.first, ", which an earlier list already names");
  } else {
    EMBER_CHECK(missing_count == 3, "some split lists are missing:", missing, " (give all three or none)");
    data.fallback_split = true;
    std::cerr << "ember: WARNING: no split lists under " << (root / "splits").string()
              << ": using a SEEDED STRATIFIED 60/20/20 SPLIT (seed " << split_seed
              << "), not the standard EuroSAT split\n";
    split = stratified_split(image_dir, classes, split_seed);
  }
  std::vector<std::pair<std::string, int64_t>> all = split.train;
  all.insert(all.end(), split.val.begin(), split.val.end());
  all.insert(all.end(), split.test.begin(), split.test.end());
  const ImageSet everything = load_images(image_dir, all, classes, options, &data.stats);
  // The three sets are row ranges of one decoded tensor: views sharing its storage (dim-0
  // slices stay contiguous), so no second 332 MB copy is made.
  auto part = [&](int64_t begin, int64_t end) {
    ImageSet set;
    set.class_names = everything.class_names;
    set.images = everything.images.slice(0, begin, end);
    set.labels = everything.labels.slice(0, begin, end);
    set.files.assign(everything.files.begin() + begin, everything.files.begin() + end);
    return set;
  };
  const int64_t a = static_cast<int64_t>(split.train.size());
  const int64_t b = a + static_cast<int64_t>(split.val.size());
  data.train = part(0, a);
  data.val = part(a, b);
  data.test = part(b, everything.size());
  return data;
}

}  // namespace ember::datasets
