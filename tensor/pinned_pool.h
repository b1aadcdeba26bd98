// PinnedPool: the cache of page-locked host buffers behind Tensor::pin_memory() and the staging
// of non_blocking host->device copies, as plain host C++ over an injected backend (cudaHostAlloc
// and CUDA events in tensor/cuda/cuda_allocator.cpp, a fake in tests/test_caching_allocator.cpp).
//
// Pinning memory is slow (it maps pages for the device), so freed buffers are kept and reused.
// Sizes are rounded up to a power of two (at least 4 KiB) and a request reuses a free buffer of
// exactly its rounded size. The GPU may still be copying from or into a buffer after the host
// let go of it: after queuing an asynchronous copy the caller calls record_use(ptr), which
// records an event on the compute stream for that buffer, and a buffer is only reused once its
// event has completed (buffers whose copy is still in flight are skipped; a new one is pinned if
// none is ready). One event per buffer is enough: all copies run on the one compute stream, so
// the latest recorded event completes after every earlier copy of the buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tensor/memory.h"

namespace ember::memory {

class PinnedBackend {
 public:
  virtual ~PinnedBackend() = default;
  // nbytes of page-locked host memory, or nullptr when none can be had; throws on other errors.
  virtual void* raw_alloc(size_t nbytes) = 0;
  virtual void raw_free(void* ptr) = 0;       // must not throw
  virtual void* create_event() = 0;           // an event handle, not yet recorded
  virtual void record_event(void* event) = 0; // marks "now" on the compute stream
  virtual bool event_done(void* event) = 0;   // all work before the record has finished
  virtual void wait_event(void* event) = 0;   // blocks the host until event_done
  virtual void destroy_event(void* event) = 0;  // must not throw
  // The failed call and the driver's message for the last raw_alloc that returned nullptr.
  virtual std::string last_failure() const = 0;
};

constexpr size_t kMinPinnedSize = 4096;

// Thread-safe.
class PinnedPool {
 public:
  explicit PinnedPool(PinnedBackend& backend) : backend_(backend) {}
  ~PinnedPool();  // waits for pending copies of free buffers and gives them back
  PinnedPool(const PinnedPool&) = delete;
  PinnedPool& operator=(const PinnedPool&) = delete;

  // nullptr for 0 bytes; throws ember::Error when no pinned memory can be had.
  void* allocate(size_t nbytes);
  void deallocate(void* ptr);  // ptr must come from allocate; throws ember::Error otherwise
  // Whether ptr lies inside a buffer handed out by this pool.
  bool contains(const void* ptr) const;
  // Call right after queuing an asynchronous copy from or into the buffer holding ptr: the
  // buffer will not be reused before the copy is done. False (and nothing done) when ptr is not
  // in a handed-out buffer.
  bool record_use(const void* ptr);
  // Blocks until the copies recorded on the buffer holding ptr are done (before the host reads
  // or writes it). Nothing when ptr is not pinned or nothing is pending.
  void wait_ready(const void* ptr);
  // Gives every free buffer back, waiting for its pending copies first.
  void empty_cache();
  void reset_peak_stats();
  MemoryStats stats() const;

 private:
  struct Buffer {
    char* ptr = nullptr;
    size_t size = 0;
    size_t requested = 0;
    bool allocated = false;
    void* event = nullptr;  // created on first use
    bool pending = false;   // event recorded and not yet seen completed
  };
  Buffer* find_containing(const void* ptr) const;  // expects the lock held
  void release_free_buffers();                     // expects the lock held
  bool ready(Buffer* buffer);                      // expects the lock held

  PinnedBackend& backend_;
  mutable std::mutex mutex_;
  std::map<uintptr_t, Buffer*> buffers_;             // every buffer, by address
  std::map<size_t, std::vector<Buffer*>> free_;      // free buffers by (rounded) size
  MemoryStats stats_;
};

}  // namespace ember::memory
