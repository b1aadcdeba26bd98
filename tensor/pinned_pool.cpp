// The pinned host buffer cache (see tensor/pinned_pool.h and docs/memory.md). Host C++ only;
// tested with a fake backend in tests/test_caching_allocator.cpp.
#include "tensor/pinned_pool.h"

#include <algorithm>
#include <bit>

#include "tensor/block_pool.h"
#include "tensor/error.h"

namespace ember::memory {

PinnedPool::~PinnedPool() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_free_buffers();
  // Buffers still handed out outlive the pool (only pools made by tests are destroyed).
  for (auto& [address, buffer] : buffers_) {
    (void)address;
    if (buffer->event) backend_.destroy_event(buffer->event);
    delete buffer;
  }
}

bool PinnedPool::ready(Buffer* buffer) {
  if (buffer->pending && backend_.event_done(buffer->event)) buffer->pending = false;
  return !buffer->pending;
}

void* PinnedPool::allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  EMBER_CHECK(nbytes <= (SIZE_MAX >> 1) + 1, "cannot pin ", nbytes, " bytes: the size overflows");
  const size_t size = std::bit_ceil(std::max(nbytes, kMinPinnedSize));
  std::lock_guard<std::mutex> lock(mutex_);

  Buffer* buffer = nullptr;
  if (auto bucket = free_.find(size); bucket != free_.end()) {
    // Oldest first: the buffer freed longest ago is the likeliest to have finished its copies.
    auto& list = bucket->second;
    auto it = std::find_if(list.begin(), list.end(), [&](Buffer* b) { return ready(b); });
    if (it != list.end()) {
      buffer = *it;
      list.erase(it);
      if (list.empty()) free_.erase(bucket);
      ++stats_.cache_hits;
    }
  }
  if (!buffer) {
    void* ptr = backend_.raw_alloc(size);
    if (!ptr) {
      // Page-locked memory is limited: give back the cached buffers and try once more.
      ++stats_.num_oom_retries;
      release_free_buffers();
      ptr = backend_.raw_alloc(size);
    }
    if (!ptr) {
      ++stats_.num_ooms;
      EMBER_FAIL("out of pinned host memory: tried to pin ", nbytes, " bytes (",
                 format_bytes(nbytes), "; ", size, " bytes asked of cudaHostAlloc: ",
                 backend_.last_failure(), "); ember holds ",
                 stats_.allocated_bytes, " pinned bytes in use and ", stats_.reserved_bytes,
                 " reserved, after giving back its cached buffers");
    }
    buffer = new Buffer;
    buffer->ptr = static_cast<char*>(ptr);
    buffer->size = size;
    buffers_.emplace(reinterpret_cast<uintptr_t>(ptr), buffer);
    stats_.reserved_bytes += size;
    stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
    ++stats_.num_device_allocs;
    ++stats_.segments;
  }
  buffer->allocated = true;
  buffer->requested = nbytes;
  stats_.allocated_bytes += size;
  stats_.requested_bytes += nbytes;
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  ++stats_.num_allocs;
  ++stats_.active_blocks;
  return buffer->ptr;
}

void PinnedPool::deallocate(void* ptr) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = buffers_.find(reinterpret_cast<uintptr_t>(ptr));
  EMBER_CHECK(it != buffers_.end() && it->second->allocated, "free of pinned pointer ", ptr,
              ": not a buffer handed out by the pinned allocator (double free?)");
  Buffer* buffer = it->second;
  buffer->allocated = false;
  stats_.allocated_bytes -= buffer->size;
  stats_.requested_bytes -= buffer->requested;
  buffer->requested = 0;
  --stats_.active_blocks;
  ++stats_.num_frees;
  // Its copies may still be in flight: the pending event keeps it from reuse until they finish.
  free_[buffer->size].push_back(buffer);
}

PinnedPool::Buffer* PinnedPool::find_containing(const void* ptr) const {
  const auto address = reinterpret_cast<uintptr_t>(ptr);
  auto it = buffers_.upper_bound(address);  // first buffer starting after ptr
  if (it == buffers_.begin()) return nullptr;
  --it;
  Buffer* buffer = it->second;
  if (!buffer->allocated || address >= it->first + buffer->size) return nullptr;
  return buffer;
}

bool PinnedPool::contains(const void* ptr) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return find_containing(ptr) != nullptr;
}

bool PinnedPool::record_use(const void* ptr) {
  std::lock_guard<std::mutex> lock(mutex_);
  Buffer* buffer = find_containing(ptr);
  if (!buffer) return false;
  if (!buffer->event) buffer->event = backend_.create_event();
  // Re-recording moves the event to now; the copies recorded before it run earlier on the
  // same stream, so waiting for this one waits for them all.
  backend_.record_event(buffer->event);
  buffer->pending = true;
  return true;
}

void PinnedPool::wait_ready(const void* ptr) {
  // Waits under the lock: simple, and only stalls other pinned allocations for one copy.
  std::lock_guard<std::mutex> lock(mutex_);
  Buffer* buffer = find_containing(ptr);
  if (!buffer || !buffer->pending) return;
  backend_.wait_event(buffer->event);
  buffer->pending = false;
}

void PinnedPool::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_free_buffers();
}

void PinnedPool::release_free_buffers() {
  // The host let go of these buffers, but the GPU may still be copying: freeing page-locked
  // memory under a running DMA would corrupt whatever the pages hold next. Wait for all of them
  // before changing anything, so a failed wait leaves the pool intact.
  for (auto& [size, list] : free_) {
    (void)size;
    for (Buffer* buffer : list) {
      if (buffer->pending) backend_.wait_event(buffer->event);
      buffer->pending = false;
    }
  }
  for (auto& [size, list] : free_) {
    (void)size;
    for (Buffer* buffer : list) {
      if (buffer->event) backend_.destroy_event(buffer->event);
      backend_.raw_free(buffer->ptr);
      buffers_.erase(reinterpret_cast<uintptr_t>(buffer->ptr));
      stats_.reserved_bytes -= buffer->size;
      ++stats_.num_device_frees;
      --stats_.segments;
      delete buffer;
    }
  }
  free_.clear();
}

void PinnedPool::reset_peak_stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
  stats_.peak_reserved_bytes = stats_.reserved_bytes;
}

MemoryStats PinnedPool::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace ember::memory
