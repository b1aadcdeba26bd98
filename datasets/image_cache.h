// The decoded-image cache: one binary file holding every decoded image of a file list, so a
// second run skips JPEG decoding. Tested in tests/test_datasets_eurosat.cpp (hit, stale,
// damaged, truncated).
//
// Layout (little-endian, as written by this machine):
//   "EMBERIMG" | u32 version | u64 n | u32 height, width, channels
//   n x { u32 name length | name bytes | i64 label | u64 file size | i64 mtime (ns) }
//   n * height * width * channels pixel bytes (NHWC)
//   u64 digest of everything before the pixels | u64 digest of the pixels
// Digests are FNV-1a 64 run over 8-byte words in 4 interleaved lanes (fast enough that checking
// 332 MB costs a fraction of reading it). The file is written to "<name>.tmp.<pid>.<n>" and
// renamed (tensor/atomic_file.h), so an interrupted write never leaves a broken cache under the
// real name; what a killed writer left is removed by the next load (remove_stale_cache_files).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "datasets/image_set.h"

namespace ember::datasets {

// One source image as the cache records it: name relative to the image root, and the size and
// modification time that tell a stale entry.
struct CacheEntry {
  std::string name;
  int64_t label = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

// FNV-1a 64 over 8-byte words, 4 lanes, folded; any length (the tail is hashed bytewise).
uint64_t fast_digest(const void* data, size_t bytes);

// Where caches go when no flag is given: $EMBER_CACHE, else $XDG_CACHE_HOME/ember, else
// $HOME/.cache/ember, else <temp dir>/ember.
std::filesystem::path default_cache_dir();

// The cache file for a set of images: named by a digest of the image root and the file names,
// so a different list (or root) never reads another list's cache.
std::filesystem::path cache_path(const std::filesystem::path& cache_dir,
                                 const std::filesystem::path& image_root,
                                 const std::vector<CacheEntry>& entries);

// Loads the cache at `path` into images [n, h, w, c] if it exists and matches `entries` exactly
// (names, labels, sizes, mtimes) and both digests; otherwise returns nullopt and puts the reason
// in *why ("absent", "stale: ...", "damaged: ...").
std::optional<Tensor> read_image_cache(const std::filesystem::path& path,
                                       const std::vector<CacheEntry>& entries, int height,
                                       int width, int channels, std::string* why);

// Writes images (uint8 [n, h, w, c], contiguous) for `entries` atomically (temp file + rename).
void write_image_cache(const std::filesystem::path& path, const std::vector<CacheEntry>& entries,
                       const Tensor& images);

// Removes the temporary files of cache writers that were killed (a cache is hundreds of MB), in
// `cache_dir` only, never those of a live writer: several runs may share one cache folder.
// Returns the removed paths.
std::vector<std::string> remove_stale_cache_files(const std::filesystem::path& cache_dir);

}  // namespace ember::datasets
