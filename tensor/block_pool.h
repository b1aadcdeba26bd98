// BlockPool: the logic of the caching device allocator, as plain host C++ over an injected raw
// backend (cudaMalloc/cudaFree in tensor/cuda/cuda_allocator.cpp, a fake in the tests), so it is
// compiled in every build and tested on the CPU by tests/test_caching_allocator.cpp. It never
// touches the memory it manages. Design and reasoning: docs/memory.md.
//
// - Requests are rounded up to 512 B. Requests <= 1 MiB come from the small pool, whose
//   segments are 2 MiB; larger ones from the large pool, whose segments are the request rounded
//   up to 2 MiB.
// - A request takes the best-fitting cached free block of its pool (smallest, then lowest
//   address); the rest of the block is split off as a free block when it is worth keeping
//   (>= 512 B in the small pool, > 1 MiB in the large pool).
// - Split limit: blocks larger than max_split_size ("oversize") are never split and never serve
//   a request <= max_split_size; an oversize request takes a cached oversize block only when the
//   block is at most kOversizeSlack larger. So one huge cached segment is not carved up by small
//   requests until nothing else fits.
// - A freed block merges with its free neighbours in the same segment, and may be reused by the
//   very next allocation: every kernel and copy runs on the one compute stream, so work queued
//   later on the reused block runs after the work queued earlier on its previous owner.
// - When the device is out of memory, every cached free segment is given back and the request
//   retried once; if it still fails, the error names the request, ember's use and the device's
//   free/total memory.
// - Direct mode (EMBER_CUDA_ALLOCATOR=direct) caches nothing: every request is a raw allocation
//   of exactly its size and every free a raw free, so compute-sanitizer sees each tensor's bounds.
// - Deferred mode (EMBER_CUDA_ALLOCATOR=deferred) is the caching mode minus the one-stream
//   shortcut: a free records an event on the compute stream and the block stays out of the free
//   sets until the event has completed. Allocations first move finished frees to the free sets
//   (merging as usual); when nothing fits, they wait for the pending frees of their pool, oldest
//   first, before growing the pool, and for all of them before giving cached segments back
//   (out of memory, empty_cache). A debug mode: run the GPU tests under it and compare with the
//   default to check that nothing relies on immediate reuse being safe beyond the one stream.
// - Held segments (set_hold_segments, for a CUDA graph's private pool while a capture allocates
//   from it; tensor/pool_set.h): nothing is given back, neither by empty_cache nor to retry an
//   out-of-memory request, which then fails at once naming the capture (cudaFree and the
//   stream synchronisation before it are not allowed while capturing).
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensor/memory.h"

namespace ember::memory {

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * kKiB;
constexpr size_t kRoundBytes = 512;            // every block size is a multiple of this
constexpr size_t kSmallRequest = 1 * kMiB;     // requests up to this go to the small pool
constexpr size_t kSmallSegment = 2 * kMiB;     // size of every small-pool segment
constexpr size_t kLargeSegmentRound = 2 * kMiB;  // large-pool segments are multiples of this
constexpr size_t kMinLargeRemainder = 1 * kMiB;  // large-pool remainders above this are split off
constexpr size_t kOversizeSlack = 20 * kMiB;   // waste allowed when an oversize block is reused
constexpr size_t kDefaultMaxSplitSize = 256 * kMiB;

// Where segments come from. Implementations: cudaMalloc on one device, fakes in the tests.
class RawBackend {
 public:
  virtual ~RawBackend() = default;
  // nbytes of device memory, or nullptr when the device is out of memory; throws on any other
  // failure.
  virtual void* raw_alloc(size_t nbytes) = 0;
  // Gives a segment back. Must not throw: it runs in destructors.
  virtual void raw_free(void* ptr, size_t nbytes) = 0;
  // Waits for all queued work, called before segments are given back (the work may still use
  // them). Must not throw.
  virtual void synchronize() = 0;
  // For out-of-memory messages: the device's name ("cuda:0") and its free/total bytes (0, 0 when
  // unknown).
  virtual std::string device_name() const = 0;
  virtual void memory_info(size_t* free_bytes, size_t* total_bytes) = 0;
  // The failed call and the driver's message for the last raw_alloc that returned nullptr
  // ("cudaMalloc(&ptr, 4096): cudaErrorMemoryAllocation (out of memory)").
  virtual std::string last_failure() const = 0;

  // Events on the device's compute stream, used by the deferred mode only (the caching and
  // direct modes never call them), as tensor/pinned_pool.h uses them for pinned buffers.
  virtual void* create_event() = 0;            // a handle, not yet recorded; throws on failure
  virtual void record_event(void* event) = 0;  // marks "now" on the compute stream; may throw
  // Whether all work queued before the last record has finished; throws on a real failure.
  virtual bool event_done(void* event) = 0;
  virtual void wait_event(void* event) = 0;     // blocks the host until event_done; may throw
  virtual void destroy_event(void* event) = 0;  // must not throw
};

enum class AllocatorMode { Caching, Direct, Deferred };

// EMBER_CUDA_ALLOCATOR: unset, "" or "caching" -> Caching; "direct" -> Direct; "deferred" ->
// Deferred; else throws.
AllocatorMode parse_allocator_mode(const char* value);
// EMBER_CUDA_MAX_SPLIT_MB: unset or "" -> kDefaultMaxSplitSize; else a whole number of MiB
// >= 2, returned in bytes; anything else throws.
size_t parse_max_split_size(const char* value);

struct PoolConfig {
  AllocatorMode mode = AllocatorMode::Caching;
  size_t max_split_size = kDefaultMaxSplitSize;  // >= kLargeSegmentRound
};

#ifdef EMBER_WITH_CUDA
// The CUDA backend of cuda:<device>, the one the process's allocator uses (defined in
// tensor/cuda/cuda_allocator.cpp): for tests that build a pool of their own over real device
// memory, e.g. in the deferred mode whatever EMBER_CUDA_ALLOCATOR says.
std::unique_ptr<RawBackend> make_cuda_raw_backend(int device);
#endif

// "3.00 MiB" style, for messages.
std::string format_bytes(size_t bytes);

// Thread-safe: every public member takes the pool's mutex.
class BlockPool {
 public:
  BlockPool(RawBackend& backend, PoolConfig config = {});
  // Waits for pending frees, then gives back every free segment (blocks still handed out are
  // leaked to the device).
  ~BlockPool();
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // nullptr for 0 bytes; throws ember::Error when the device is out of memory.
  void* allocate(size_t nbytes);
  // ptr must come from allocate (nullptr is ignored); throws ember::Error otherwise.
  void deallocate(void* ptr);
  // Gives every cached segment that is entirely free back to the device (deferred mode: after
  // waiting for the pending frees, which then count as free).
  void empty_cache();
  // While held, no segment is given back (see the top of this file).
  void set_hold_segments(bool hold);
  void reset_peak_stats();
  MemoryStats stats() const;
  const PoolConfig& config() const { return config_; }

  // For tests: the size of the block behind ptr (0 when ptr is not handed out), and a check of
  // the internal invariants ("" when they hold, else what is broken).
  size_t block_size(void* ptr) const;
  std::string check_invariants() const;

 private:
  struct Block {
    char* ptr = nullptr;
    size_t size = 0;
    size_t requested = 0;  // bytes asked for, while handed out
    bool allocated = false;
    bool small = false;    // which pool its segment belongs to
    Block* prev = nullptr; // neighbours inside the same segment, by address
    Block* next = nullptr;
    // Deferred mode: the block was freed and waits in pending_ for this event, recorded at the
    // free; it is in no free set and merges with nothing until the event has completed.
    void* event = nullptr;
  };
  struct BySizeThenAddress {
    bool operator()(const Block* a, const Block* b) const {
      return a->size != b->size ? a->size < b->size : a->ptr < b->ptr;
    }
  };
  using FreeSet = std::set<Block*, BySizeThenAddress>;

  void* allocate_direct(size_t nbytes);
  void deallocate_direct(void* ptr);
  Block* find_free_block(size_t size, bool small);
  Block* new_segment(size_t nbytes, size_t segment_size, bool small);
  void split(Block* block, size_t size);
  void insert_free(Block* block);  // merges with free neighbours, into the free set
  // Deferred mode (each expects the lock held): defer_free records the free's event and parks
  // the block in pending_; release_finished_frees moves the blocks whose events are done to the
  // free sets; wait_oldest_pending_free blocks the host on the oldest one, then does the same.
  void defer_free(Block* block);
  void release_finished_frees();
  void wait_oldest_pending_free();
  void finish_oldest_pending_free();
  bool pending_in_pool(bool small) const;
  static bool is_free(const Block* block) { return !block->allocated && !block->event; }
  void release_free_segments();  // expects the lock held
  [[noreturn]] void throw_out_of_memory(size_t nbytes, size_t asked);
  bool oversize(size_t size) const { return size > config_.max_split_size; }
  FreeSet& free_set(bool small) { return small ? small_free_ : large_free_; }
  void note_allocated(size_t size, size_t requested);
  void note_reserved(size_t size);

  RawBackend& backend_;
  PoolConfig config_;
  mutable std::mutex mutex_;
  FreeSet small_free_, large_free_;
  std::unordered_map<void*, Block*> live_;          // handed out, by address
  std::unordered_map<void*, size_t> direct_live_;   // direct mode: size by address
  std::deque<Block*> pending_;       // deferred mode: freed blocks with their events, oldest first
  std::vector<void*> spare_events_;  // deferred mode: events of finished frees, for reuse
  MemoryStats stats_;
  bool hold_segments_ = false;
};

}  // namespace ember::memory
