#include "tensor/cpu_block_cache.h"

#include <utility>
#include <vector>

#include "tensor/error.h"

namespace ember {

CpuBlockCache::CpuBlockCache(Backend backend, size_t limit_bytes) : backend_(std::move(backend)) {
  stats_.limit_bytes = limit_bytes;
}

CpuBlockCache::~CpuBlockCache() { empty(); }

void* CpuBlockCache::allocate(size_t nbytes) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.lower_bound(nbytes);
    if (it != free_.end() && it->first - nbytes <= nbytes / 8) {
      const auto [size, ptr] = *it;
      free_.erase(it);
      stats_.cached_bytes -= size;
      --stats_.cached_blocks;
      live_.emplace(ptr, size);
      stats_.live_bytes += size;
      ++stats_.live_blocks;
      ++stats_.hits;
      return ptr;
    }
    ++stats_.misses;
  }
  void* ptr = backend_.allocate(nbytes);
  if (ptr == nullptr) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.oom_retries;
    }
    empty();
    ptr = backend_.allocate(nbytes);
    if (ptr == nullptr) return nullptr;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  live_.emplace(ptr, nbytes);
  stats_.live_bytes += nbytes;
  ++stats_.live_blocks;
  return ptr;
}

void CpuBlockCache::deallocate(void* ptr) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto it = live_.find(ptr);
  EMBER_CHECK(it != live_.end(), "CpuBlockCache: freeing a block it did not hand out");
  const size_t size = it->second;
  live_.erase(it);
  stats_.live_bytes -= size;
  --stats_.live_blocks;
  if (stats_.cached_bytes + size > stats_.limit_bytes) {
    ++stats_.released;
    lock.unlock();
    backend_.release(ptr);
    return;
  }
  free_.emplace(size, ptr);
  stats_.cached_bytes += size;
  ++stats_.cached_blocks;
}

void CpuBlockCache::empty() {
  std::unique_lock<std::mutex> lock(mutex_);
  release_down_to(0, lock);
}

void CpuBlockCache::set_limit(size_t limit_bytes) {
  std::unique_lock<std::mutex> lock(mutex_);
  stats_.limit_bytes = limit_bytes;
  release_down_to(limit_bytes, lock);
}

// Gives back the largest cached blocks until the cache holds at most `target` bytes; unlocks
// `lock` before calling the backend.
void CpuBlockCache::release_down_to(size_t target, std::unique_lock<std::mutex>& lock) {
  std::vector<void*> out;
  while (stats_.cached_bytes > target) {
    auto last = std::prev(free_.end());
    stats_.cached_bytes -= last->first;
    --stats_.cached_blocks;
    ++stats_.released;
    out.push_back(last->second);
    free_.erase(last);
  }
  lock.unlock();
  for (void* p : out) backend_.release(p);
}

CpuCacheStats CpuBlockCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace ember
