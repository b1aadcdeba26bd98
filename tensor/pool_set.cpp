// The main and private pools of one device (tensor/pool_set.h; docs/memory.md). Host C++ only;
// tested with a fake backend in tests/test_graph_pools.cpp.
#include "tensor/pool_set.h"

#include <unordered_map>
#include <vector>

#include "tensor/error.h"
#include "tensor/graph_capture.h"

namespace ember::memory {

namespace {

// This thread's route in each PoolSet, by the set's serial (not its address: a set made where
// a destroyed one lived must not inherit its routes). Absent means the main pool.
thread_local std::unordered_map<uint64_t, uint64_t> routes;

std::atomic<uint64_t> next_serial{1};

void add_counts(MemoryStats& into, const MemoryStats& s) {
  into.allocated_bytes += s.allocated_bytes;
  into.requested_bytes += s.requested_bytes;
  into.reserved_bytes += s.reserved_bytes;
  into.peak_allocated_bytes += s.peak_allocated_bytes;
  into.peak_reserved_bytes += s.peak_reserved_bytes;
  into.num_allocs += s.num_allocs;
  into.num_frees += s.num_frees;
  into.num_device_allocs += s.num_device_allocs;
  into.num_device_frees += s.num_device_frees;
  into.cache_hits += s.cache_hits;
  into.num_oom_retries += s.num_oom_retries;
  into.num_ooms += s.num_ooms;
  into.active_blocks += s.active_blocks;
  into.segments += s.segments;
  into.pending_free_bytes += s.pending_free_bytes;
  into.num_pending_waits += s.num_pending_waits;
}

}  // namespace

PoolSet::PoolSet(RawBackend& backend, PoolConfig config)
    : backend_(backend), config_(config), main_(backend, config), serial_(next_serial++) {}

PoolSet::~PoolSet() = default;

uint64_t PoolSet::routed_pool() const {
  auto it = routes.find(serial_);
  return it == routes.end() ? 0 : it->second;
}

void* PoolSet::allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  const uint64_t id = routed_pool();
  if (id == 0) {
    // A graph replays the addresses its capture was given: from the main pool they would be
    // handed to other tensors later. (And the main pool may cudaFree to retry.)
    EMBER_CHECK(!graph::capturing(), "allocating ", nbytes, " bytes on ", backend_.device_name(),
                " while this thread captures a CUDA graph: the memory must come from the graph's "
                "private pool (route this thread to it with cuda_graph_pool_route first)");
    return main_.allocate(nbytes);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  Private& pool = private_.at(id);  // a routed pool is never dropped
  void* ptr = pool.pool->allocate(nbytes);
  owner_.emplace(ptr, id);
  ++pool.live_blocks;
  return ptr;
}

void PoolSet::deallocate(void* ptr) {
  if (!ptr) return;
  if (num_private_.load() != 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = owner_.find(ptr); it != owner_.end()) {
      const uint64_t id = it->second;
      Private& pool = private_.at(id);
      pool.pool->deallocate(ptr);
      owner_.erase(it);
      --pool.live_blocks;
      drop_if_done(id);
      return;
    }
  }
  main_.deallocate(ptr);
}

uint64_t PoolSet::open_private_pool() {
  EMBER_CHECK(config_.mode == AllocatorMode::Caching, "a CUDA graph's private memory pool on ",
              backend_.device_name(), " needs the caching allocator, but EMBER_CUDA_ALLOCATOR=",
              config_.mode == AllocatorMode::Direct ? "direct" : "deferred",
              ": unset it (or set it to 'caching') to use CUDA graphs, or run without graphs");
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t id = next_id_++;
  private_[id].pool = std::make_unique<BlockPool>(backend_, config_);
  ++num_private_;
  return id;
}

PoolSet::Private& PoolSet::open_pool(uint64_t id, const char* what) {
  auto it = private_.find(id);
  EMBER_CHECK(it != private_.end() && !it->second.released, what, "(", id, ") on ",
              backend_.device_name(), ": no open private pool has that id",
              id != 0 && id < next_id_ ? " (it was released)" : "");
  return it->second;
}

void PoolSet::route_this_thread(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  Private* target = id != 0 ? &open_pool(id, "route_this_thread") : nullptr;
  uint64_t& route = routes[serial_];
  if (route != 0) {
    if (auto it = private_.find(route); it != private_.end() && --it->second.routes == 0) {
      it->second.pool->set_hold_segments(false);
      // The pool's segments could go back now; a capturing thread leaves that for later.
      drop_if_done(route);
    }
  }
  route = id;
  if (target) {
    ++target->routes;
    target->pool->set_hold_segments(true);
  }
}

void PoolSet::release_private_pool(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  EMBER_CHECK(id != 0 && id < next_id_, "release_private_pool(", id, ") on ",
              backend_.device_name(), ": no private pool was opened with that id");
  auto it = private_.find(id);
  if (it == private_.end()) return;  // released before, and already dropped
  it->second.released = true;
  drop_if_done(id);
}

void PoolSet::drop_if_done(uint64_t id) {
  auto it = private_.find(id);
  if (it == private_.end()) return;
  Private& pool = it->second;
  // Giving segments back means cudaFree after a stream sync: never on a capturing thread.
  if (!pool.released || pool.live_blocks != 0 || pool.routes != 0 || graph::capturing()) return;
  pool.pool->empty_cache();  // every block is free, so every segment is whole: all go back
  const MemoryStats last = pool.pool->stats();
  add_counts(dropped_, last);
  dropped_.reserved_bytes -= last.reserved_bytes;  // 0 unless a segment could not be freed
  dropped_.segments -= last.segments;
  private_.erase(it);
  --num_private_;
}

void PoolSet::drop_finished_pools() {
  std::vector<uint64_t> ids;
  for (const auto& [id, pool] : private_)
    if (pool.released) ids.push_back(id);
  for (uint64_t id : ids) drop_if_done(id);
}

size_t PoolSet::private_pool_reserved_bytes(uint64_t id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  EMBER_CHECK(id != 0 && id < next_id_, "private_pool_reserved_bytes(", id, ") on ",
              backend_.device_name(), ": no private pool was opened with that id");
  auto it = private_.find(id);
  return it == private_.end() ? 0 : it->second.pool->stats().reserved_bytes;
}

size_t PoolSet::num_private_pools() const { return num_private_.load(); }

void PoolSet::empty_cache() {
  graph::check_not_capturing("emptying the CUDA memory cache");
  main_.empty_cache();
  std::lock_guard<std::mutex> lock(mutex_);
  drop_finished_pools();
  // Released pools still waiting for their last blocks give back what is entirely free; a live
  // graph's pool keeps everything (its replays write there).
  for (auto& [id, pool] : private_)
    if (pool.released) pool.pool->empty_cache();
}

void PoolSet::reset_peak_stats() {
  main_.reset_peak_stats();
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [id, pool] : private_) pool.pool->reset_peak_stats();
  dropped_.peak_allocated_bytes = dropped_.peak_reserved_bytes = 0;
}

// Peaks are the sum of each pool's peak: an upper bound of the device-wide peak (the pools may
// have peaked at different times), exact while only the main pool is used.
MemoryStats PoolSet::stats() const {
  MemoryStats total = main_.stats();
  std::lock_guard<std::mutex> lock(mutex_);
  add_counts(total, dropped_);
  for (const auto& [id, pool] : private_) add_counts(total, pool.pool->stats());
  return total;
}

}  // namespace ember::memory
