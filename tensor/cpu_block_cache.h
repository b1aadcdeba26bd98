// A cache of large freed host blocks for the CPU allocator (tensor/storage.cpp).
// glibc serves blocks above its mmap threshold (at most 32 MiB) with a fresh mmap() and unmaps
// them on free, so a training step whose activations are that large page-faults and has the
// kernel zero every one of their pages again each step (docs/performance.md, "The GAN step on
// the CPU"). This cache keeps such blocks when they are freed and hands them out again:
// - a request takes the smallest cached block of at least its size and at most 1/8 larger
//   (activations of one step come back with the same sizes), else a new block from the backend;
// - a freed block is kept while the cache holds at most `limit` bytes, else given back at once;
// - empty() gives every cached block back; a failed backend allocation empties the cache and
//   retries once (the memory pressure we can see: Linux overcommits, so this is rare).
// Plain C++ over an injected backend so that tests/test_cpu_block_cache.cpp can count calls.
// Thread-safe (one mutex; the backend is called outside it).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <unordered_map>

namespace ember {

struct CpuCacheStats {
  size_t cached_bytes = 0;   // free blocks held for reuse
  size_t cached_blocks = 0;
  size_t live_bytes = 0;     // large blocks handed out now (their full sizes)
  size_t live_blocks = 0;
  size_t limit_bytes = 0;    // most cached_bytes may reach
  uint64_t hits = 0;         // requests served from a cached block
  uint64_t misses = 0;       // requests that went to the backend
  uint64_t released = 0;     // blocks given back to the backend (over the limit, or emptied)
  uint64_t oom_retries = 0;  // backend failures retried after emptying the cache
};

class CpuBlockCache {
 public:
  struct Backend {
    std::function<void*(size_t)> allocate;  // nullptr when out of memory
    std::function<void(void*)> release;
  };
  CpuBlockCache(Backend backend, size_t limit_bytes);
  ~CpuBlockCache();  // gives the cached blocks back
  CpuBlockCache(const CpuBlockCache&) = delete;
  CpuBlockCache& operator=(const CpuBlockCache&) = delete;

  void* allocate(size_t nbytes);  // nullptr when the backend fails even after emptying
  void deallocate(void* ptr);     // ptr from allocate()
  void empty();
  void set_limit(size_t limit_bytes);  // lowering it gives back what no longer fits
  CpuCacheStats stats() const;

 private:
  void release_down_to(size_t target, std::unique_lock<std::mutex>& lock);

  Backend backend_;
  mutable std::mutex mutex_;
  std::multimap<size_t, void*> free_;         // size -> cached block
  std::unordered_map<void*, size_t> live_;    // handed-out block -> its size
  CpuCacheStats stats_;
};

}  // namespace ember
