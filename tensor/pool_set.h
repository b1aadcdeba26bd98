// PoolSet: one device's caching allocator as a set of BlockPools over one RawBackend: the main
// pool every tensor uses, plus private pools, one per CUDA graph (tensor/cuda_graph.h). A graph
// replays the same addresses, so what its capture allocated must never be handed to anyone else
// while the graph lives: the capturing thread routes its allocations to the graph's pool, and
// that pool serves nobody else. Plain host C++ like BlockPool, tested with a fake backend by
// tests/test_graph_pools.cpp; tensor/cuda/cuda_allocator.cpp uses one per device. Design,
// lifetime rule and what is given back when: docs/memory.md ("Private pools for CUDA graphs").
//
// - open_private_pool() makes a pool (Caching mode only: graphs need the cache) and returns its
//   id, never 0. route_this_thread(id) sends this thread's allocations there; 0 routes back to
//   the main pool. Routing is per thread and per PoolSet.
// - deallocate(ptr) returns ptr to the pool that owns it, whichever thread frees it and whether
//   or not anyone still routes there.
// - A pool that some thread routes to holds its segments (BlockPool::set_hold_segments): a
//   capture cannot cudaFree, nor wait for the stream, so nothing goes back and an out-of-memory
//   request fails at once, naming the capture.
// - release_private_pool(id) (the graph is gone): the pool's segments go back to the device as
//   soon as no block is handed out and no thread routes there (at once if so), and the pool is
//   dropped. Never on a capturing thread: that waits for the next call outside a capture.
// - empty_cache() gives back the free segments of the main pool and of released pools still
//   waiting for their last blocks, never those of a live graph's pool.
// - stats() sums the main pool and every private pool (and the counts of dropped ones).
// Thread-safe.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "tensor/block_pool.h"

namespace ember::memory {

class PoolSet {
 public:
  PoolSet(RawBackend& backend, PoolConfig config = {});
  ~PoolSet();
  PoolSet(const PoolSet&) = delete;
  PoolSet& operator=(const PoolSet&) = delete;

  // From the pool this thread is routed to (the main pool by default); nullptr for 0 bytes.
  void* allocate(size_t nbytes);
  // To the pool that owns ptr (nullptr is ignored); throws for a pointer no pool handed out.
  void deallocate(void* ptr);

  // Throws in the Direct and Deferred modes (naming EMBER_CUDA_ALLOCATOR).
  uint64_t open_private_pool();
  // 0 = the main pool. Throws for an id that is not open (never opened, or released).
  void route_this_thread(uint64_t id);
  uint64_t routed_pool() const;  // this thread's route, 0 for the main pool
  // Never throws for a known id (it runs in graph destructors); throws for one never opened.
  void release_private_pool(uint64_t id);
  // Bytes the private pool holds from the device; 0 once it has been dropped.
  size_t private_pool_reserved_bytes(uint64_t id) const;
  // Private pools still held (open, or released and waiting for their blocks).
  size_t num_private_pools() const;

  void empty_cache();  // throws on a capturing thread (it would cudaFree)
  void reset_peak_stats();
  MemoryStats stats() const;
  BlockPool& main_pool() { return main_; }
  const PoolConfig& config() const { return main_.config(); }

 private:
  struct Private {
    std::unique_ptr<BlockPool> pool;
    size_t live_blocks = 0;  // handed out and not yet freed
    int routes = 0;          // threads routed here now
    bool released = false;
  };
  // Each expects mutex_ held.
  void drop_if_done(uint64_t id);
  void drop_finished_pools();
  Private& open_pool(uint64_t id, const char* what);

  RawBackend& backend_;
  PoolConfig config_;
  BlockPool main_;
  const uint64_t serial_;  // tells PoolSets apart in the per-thread routes
  mutable std::mutex mutex_;
  std::map<uint64_t, Private> private_;
  std::unordered_map<void*, uint64_t> owner_;  // blocks of private pools -> pool id
  std::atomic<size_t> num_private_{0};         // private_.size(), read without the lock
  uint64_t next_id_ = 1;
  MemoryStats dropped_;  // the counts (and peaks) of pools already dropped
};

}  // namespace ember::memory
