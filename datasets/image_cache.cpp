// The decoded-image cache (format and contract in image_cache.h). Every check that fails on read
// returns a reason instead of throwing: a bad cache is rebuilt, never fatal. Tested in
// tests/test_datasets_eurosat.cpp.
#include "datasets/image_cache.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace ember::datasets {
namespace {

constexpr char kMagic[8] = {'E', 'M', 'B', 'E', 'R', 'I', 'M', 'G'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kFnvOffset = 1469598103934665603ull, kFnvPrime = 1099511628211ull;

template <typename T> void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

// A cursor over the bytes before the pixels; `ok` goes false on reading past the end.
struct Reader {
  const std::string& bytes;
  size_t at = 0;
  bool ok = true;
  template <typename T> T get() {
    T value{};
    if (at + sizeof value > bytes.size()) { ok = false; return value; }
    std::memcpy(&value, bytes.data() + at, sizeof value);
    at += sizeof value;
    return value;
  }
  std::string get_string(size_t n) {
    if (at + n > bytes.size()) { ok = false; return {}; }
    std::string s = bytes.substr(at, n);
    at += n;
    return s;
  }
};

std::string header_bytes(const std::vector<CacheEntry>& entries, int h, int w, int c) {
  std::string out(kMagic, sizeof kMagic);
  put<uint32_t>(out, kVersion);
  put<uint64_t>(out, entries.size());
  put<uint32_t>(out, h);
  put<uint32_t>(out, w);
  put<uint32_t>(out, c);
  for (const CacheEntry& e : entries) {
    put<uint32_t>(out, static_cast<uint32_t>(e.name.size()));
    out += e.name;
    put<int64_t>(out, e.label);
    put<uint64_t>(out, e.size);
    put<int64_t>(out, e.mtime_ns);
  }
  return out;
}

}  // namespace

uint64_t fast_digest(const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t lane[4] = {kFnvOffset, kFnvOffset ^ 1, kFnvOffset ^ 2, kFnvOffset ^ 3};
  size_t i = 0;
  // Four independent multiply chains hide the multiplier's latency.
  for (; i + 32 <= bytes; i += 32) {
    for (int k = 0; k < 4; ++k) {
      uint64_t word;
      std::memcpy(&word, p + i + 8 * k, 8);
      lane[k] = (lane[k] ^ word) * kFnvPrime;
    }
  }
  for (; i < bytes; ++i) lane[0] = (lane[0] ^ p[i]) * kFnvPrime;
  uint64_t h = kFnvOffset;
  for (uint64_t v : lane) h = (h ^ v) * kFnvPrime;
  return (h ^ bytes) * kFnvPrime;
}

std::filesystem::path default_cache_dir() {
  if (const char* dir = std::getenv("EMBER_CACHE"); dir != nullptr && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg)
    return std::filesystem::path(xdg) / "ember";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home)
    return std::filesystem::path(home) / ".cache" / "ember";
  return std::filesystem::temp_directory_path() / "ember";
}

std::filesystem::path cache_path(const std::filesystem::path& cache_dir,
                                 const std::filesystem::path& image_root,
                                 const std::vector<CacheEntry>& entries) {
  std::string key = std::filesystem::absolute(image_root).lexically_normal().string();
  for (const CacheEntry& e : entries) key += "\n" + e.name;
  std::ostringstream name;
  name << "images-" << std::hex << fast_digest(key.data(), key.size()) << ".bin";
  return cache_dir / name.str();
}

std::optional<Tensor> read_image_cache(const std::filesystem::path& path,
                                       const std::vector<CacheEntry>& entries, int height,
                                       int width, int channels, std::string* why) {
  auto fail = [&](const std::string& reason) -> std::optional<Tensor> {
    if (why != nullptr) *why = reason;
    return std::nullopt;
  };
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return fail("absent");
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) return fail("damaged: cannot stat " + path.string() + ": " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("damaged: cannot open " + path.string());

  // The header is compared byte for byte with the one the current files would give: any
  // difference in count, size, names, labels, file sizes or mtimes makes the cache stale.
  const std::string expected = header_bytes(entries, height, width, channels);
  const uint64_t pixels = static_cast<uint64_t>(entries.size()) * height * width * channels;
  const uint64_t total = expected.size() + pixels + 16;
  std::string got(std::min<uint64_t>(file_size, expected.size()), '\0');
  in.read(got.data(), static_cast<std::streamsize>(got.size()));
  if (!in) return fail("damaged: cannot read the header of " + path.string());
  if (got.size() < 12 || std::memcmp(got.data(), kMagic, 8) != 0)
    return fail("damaged: bad magic in " + path.string());
  Reader r{got};
  r.get_string(8);
  if (r.get<uint32_t>() != kVersion) return fail("stale: written by another cache version");
  if (got != expected) {
    // Say what changed, for the log: the first entry that differs.
    Reader header{got, 12};
    const uint64_t n = header.get<uint64_t>();
    if (n != entries.size())
      return fail("stale: it holds " + std::to_string(n) + " images, the list has " +
                  std::to_string(entries.size()));
    header.get<uint32_t>(), header.get<uint32_t>(), header.get<uint32_t>();
    for (const CacheEntry& e : entries) {
      const std::string name = header.get_string(header.get<uint32_t>());
      const int64_t label = header.get<int64_t>();
      const uint64_t size = header.get<uint64_t>();
      const int64_t mtime = header.get<int64_t>();
      if (!header.ok) return fail("damaged: truncated index in " + path.string());
      if (name != e.name || label != e.label) return fail("stale: the file list changed at " + e.name);
      if (size != e.size || mtime != e.mtime_ns) return fail("stale: " + e.name + " changed on disk");
    }
    return fail("stale: header differs");
  }
  if (file_size != total)
    return fail("damaged: " + path.string() + " has " + std::to_string(file_size) +
                " bytes, expected " + std::to_string(total) + " (truncated?)");
  Tensor images = empty({static_cast<int64_t>(entries.size()), height, width, channels},
                        {.dtype = DType::UInt8});
  in.read(reinterpret_cast<char*>(images.data<uint8_t>()), static_cast<std::streamsize>(pixels));
  uint64_t digests[2] = {0, 0};
  in.read(reinterpret_cast<char*>(digests), sizeof digests);
  if (!in) return fail("damaged: short read from " + path.string());
  if (digests[0] != fast_digest(expected.data(), expected.size()) ||
      digests[1] != fast_digest(images.data<uint8_t>(), pixels))
    return fail("damaged: checksum mismatch in " + path.string());
  return images;
}

void write_image_cache(const std::filesystem::path& path, const std::vector<CacheEntry>& entries,
                       const Tensor& images) {
  EMBER_CHECK(images.dtype() == DType::UInt8 && images.dim() == 4 &&
                  images.shape()[0] == static_cast<int64_t>(entries.size()) && images.is_contiguous(),
              "write_image_cache: images must be contiguous uint8 [", entries.size(), ", H, W, C]");
  const auto& s = images.shape();
  const std::string header = header_bytes(entries, static_cast<int>(s[1]), static_cast<int>(s[2]),
                                          static_cast<int>(s[3]));
  const uint64_t pixels = static_cast<uint64_t>(images.numel());
  const uint64_t digests[2] = {fast_digest(header.data(), header.size()),
                               fast_digest(images.data<uint8_t>(), pixels)};
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  EMBER_CHECK(!ec, "cannot create cache folder ", path.parent_path().string(), ": ", ec.message());
  // Through the checked atomic writer: a full disk is an error naming the file, and a killed
  // writer's temporary file is one remove_stale_cache_files recognises. Not fsynced: the
  // digests catch a cache damaged by a power cut, and it is rebuilt.
  write_file_atomically(
      path.string(),
      {std::string_view(header),
       std::string_view(reinterpret_cast<const char*>(images.data<uint8_t>()), pixels),
       std::string_view(reinterpret_cast<const char*>(digests), sizeof digests)},
      {.sync = false});
}

std::vector<std::string> remove_stale_cache_files(const std::filesystem::path& cache_dir) {
  return remove_leftover_temp_files(cache_dir.string());
}

}  // namespace ember::datasets
