// GPU memory: statistics and control of the caching device allocator, the pinned host cache,
// and waiting for queued GPU work. The design (size-class pools, split limit, why a freed block
// may be reused at once, EMBER_CUDA_ALLOCATOR=direct for compute-sanitizer and =deferred to check
// that reasoning) is in docs/memory.md.
// Tested on the CPU through the pool logic (tests/test_caching_allocator.cpp) and on a GPU by
// tests/test_cuda_memory.cpp.
//
// In a CPU-only build, or for a device index that is not visible, cuda_memory_stats and
// cuda_reset_peak_stats throw ember::Error (asking for the statistics of a device that does not
// exist is a mistake, like allocating on it); cuda_empty_cache and cuda_synchronize do nothing,
// since nothing is cached or queued.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/cpu_block_cache.h"

namespace ember {

struct MemoryStats {
  size_t allocated_bytes = 0;       // in blocks handed out (sizes rounded up to 512 B)
  size_t requested_bytes = 0;       // what the callers of those blocks asked for
  size_t reserved_bytes = 0;        // held from the device (segments), in use or cached
  size_t peak_allocated_bytes = 0;  // since the start or the last reset_peak_stats
  size_t peak_reserved_bytes = 0;
  uint64_t num_allocs = 0;          // allocation requests served (non-empty ones)
  uint64_t num_frees = 0;
  uint64_t num_device_allocs = 0;   // segments obtained from the device (cudaMalloc)
  uint64_t num_device_frees = 0;    // segments given back (cudaFree)
  uint64_t cache_hits = 0;          // requests served from a cached block, without cudaMalloc
  uint64_t num_oom_retries = 0;     // failed device allocations retried after emptying the cache
  uint64_t num_ooms = 0;            // allocations that failed even after the retry
  size_t active_blocks = 0;         // blocks handed out now
  size_t segments = 0;              // segments held now
  // EMBER_CUDA_ALLOCATOR=deferred only (0 otherwise): freed blocks kept from reuse until the GPU
  // work queued before their free has finished, and how often the host had to wait for them.
  size_t pending_free_bytes = 0;    // part of reserved_bytes, not of allocated_bytes
  uint64_t num_pending_waits = 0;
};

// A readable summary of the stats, e.g. for a training log.
std::string describe(const MemoryStats& stats);

// Host memory: the CPU allocator keeps freed blocks above 32 MiB (glibc would unmap them) for
// reuse, up to a limit (a quarter of physical memory, at most 4 GiB; EMBER_CPU_CACHE_LIMIT_MB
// sets it). EMBER_CPU_ALLOCATOR=direct turns the cache off, so that AddressSanitizer sees every
// block freed (scripts/sanitize.sh sets it). Design: tensor/cpu_block_cache.h, docs/performance.md.
CpuCacheStats cpu_cache_stats();
void cpu_empty_cache();                    // gives every cached large block back
void cpu_set_cache_limit(size_t bytes);    // no-op in direct mode
bool cpu_allocator_is_direct();
// EMBER_CPU_ALLOCATOR's value: unset or empty or "caching" -> false, "direct" -> true; throws
// on anything else.
bool cpu_allocator_direct_from(const char* value);

// Stats of the caching allocator of cuda:<device>.
MemoryStats cuda_memory_stats(int device = 0);
// Gives every cached, entirely free segment of every device back to the driver (and the free
// blocks of the pinned host cache). Blocks in use stay.
void cuda_empty_cache();
// Sets the peaks of cuda:<device> to the current values.
void cuda_reset_peak_stats(int device = 0);
// Private memory pools for CUDA graphs (tensor/pool_set.h; docs/memory.md "Private pools for
// CUDA graphs"); tensor/cuda_graph.cpp is their user. open: a new pool on cuda:<device> (its id,
// never 0); throws unless the allocator is in its caching mode. route: this thread's device
// allocations on cuda:<device> come from pool `id` from now on (0 = the main pool again).
// release: the graph is gone; the pool's memory goes back to the device once its last block is
// freed. reserved_bytes: what the pool holds from the device (0 once it is gone). All throw in a
// CPU-only build.
uint64_t cuda_graph_pool_open(int device);
void cuda_graph_pool_route(int device, uint64_t id);
void cuda_graph_pool_release(int device, uint64_t id);
size_t cuda_graph_pool_reserved_bytes(int device, uint64_t id);
// Stats of the pinned host cache (allocated/reserved/peaks/counts; cache_hits are reuses).
MemoryStats pinned_memory_stats();
// Waits until all work queued on the compute stream is done: needed before the host reads a
// tensor filled by a non_blocking device-to-host copy.
void cuda_synchronize();

}  // namespace ember
