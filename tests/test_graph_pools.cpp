// Private memory pools for CUDA graphs (tensor/pool_set.h; docs/memory.md "Private pools for
// CUDA graphs"), on the CPU against the fake device of tests/fake_raw_backend.h: routing per
// thread and per set, frees returned to the owning pool from any thread, no reuse of a private
// pool's blocks by the main pool, release with blocks still live, nothing given back (no sync,
// no free) while a pool is routed to or on a capturing thread, stats summed over the pools,
// empty_cache sparing live graphs' pools, and the refusal in the direct and deferred modes. On a
// GPU (CudaGraphPool.*, skipped with a reason without one), the tensor/memory.h API on cuda:0.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "expect_error.h"
#include "fake_raw_backend.h"
#include "tensor/graph_capture.h"
#include "tensor/memory.h"
#include "tensor/pool_set.h"
#include "tensor/tensor.h"
#include "tests/require_cuda_graphs.h"

namespace ember {
namespace {

using memory::AllocatorMode;
using memory::kMiB;
using memory::PoolSet;
using testing::error_of;
using testing::FakeDevice;

constexpr size_t kSegment = memory::kSmallSegment;  // 2 MiB: what one small request reserves

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Opens a capture on this thread for the scope (the host state only: nothing is recorded).
struct CaptureScope {
  CaptureScope() { graph::begin_capture(0); }
  ~CaptureScope() { graph::end_capture(); }
};

TEST(GraphPools, RoutingSendsThisThreadsAllocationsToThePrivatePool) {
  FakeDevice device;
  PoolSet set(device);
  const uint64_t id = set.open_private_pool();
  EXPECT_NE(id, 0u);
  EXPECT_NE(set.open_private_pool(), id);
  EXPECT_EQ(set.routed_pool(), 0u);
  set.route_this_thread(id);
  EXPECT_EQ(set.routed_pool(), id);
  void* in_graph = set.allocate(1000);
  set.route_this_thread(0);
  void* outside = set.allocate(1000);
  EXPECT_EQ(set.private_pool_reserved_bytes(id), kSegment);
  EXPECT_EQ(set.main_pool().stats().reserved_bytes, kSegment);
  EXPECT_EQ(set.main_pool().block_size(in_graph), 0u) << "the main pool never saw it";
  EXPECT_EQ(set.main_pool().block_size(outside), 1024u);  // rounded to 512 B
  EXPECT_EQ(device.allocs, 2);
  set.deallocate(in_graph);
  set.deallocate(outside);
  EXPECT_EQ(set.stats().allocated_bytes, 0u);
}

TEST(GraphPools, RoutesArePerThreadAndPerSet) {
  FakeDevice a_device, b_device;
  PoolSet a(a_device), b(b_device);
  const uint64_t id = a.open_private_pool();
  a.route_this_thread(id);
  EXPECT_EQ(b.routed_pool(), 0u);
  uint64_t seen_elsewhere = 99;
  std::thread([&] { seen_elsewhere = a.routed_pool(); }).join();
  EXPECT_EQ(seen_elsewhere, 0u);
  void* p = b.allocate(100);  // b's main pool
  EXPECT_EQ(b.main_pool().stats().active_blocks, 1u);
  b.deallocate(p);
  a.route_this_thread(0);
}

TEST(GraphPools, TheMainPoolNeverReusesAPrivatePoolsFreedBlocks) {
  FakeDevice device;
  PoolSet set(device);
  const uint64_t id = set.open_private_pool();
  set.route_this_thread(id);
  void* graph_block = set.allocate(4096);
  set.deallocate(graph_block);  // back to the private pool, free there
  set.route_this_thread(0);
  void* main_block = set.allocate(4096);
  EXPECT_NE(main_block, graph_block);
  EXPECT_EQ(device.allocs, 2) << "the main pool grew rather than take the graph's free block";
  set.route_this_thread(id);
  EXPECT_EQ(set.allocate(4096), graph_block) << "the graph's own pool reuses it";
  set.route_this_thread(0);
  set.deallocate(graph_block);
  set.deallocate(main_block);
}

TEST(GraphPools, AFreeFromAnotherThreadGoesToTheOwningPoolAfterRoutingEnded) {
  FakeDevice device;
  PoolSet set(device);
  const uint64_t id = set.open_private_pool();
  void* block = nullptr;
  std::thread([&] {
    set.route_this_thread(id);
    block = set.allocate(3 * kMiB);
    set.route_this_thread(0);
  }).join();
  // A 4 MiB segment; its 1 MiB remainder is not worth splitting off: the block is the segment.
  EXPECT_EQ(set.stats().allocated_bytes, 4 * kMiB);
  EXPECT_EQ(set.main_pool().stats().num_allocs, 0u);
  set.deallocate(block);  // this thread was never routed there
  EXPECT_EQ(set.stats().allocated_bytes, 0u);
  EXPECT_EQ(set.main_pool().stats().num_frees, 0u);
  EXPECT_EQ(set.private_pool_reserved_bytes(id), 4 * kMiB);
  EXPECT_NE(error_of([&] { set.deallocate(block); }), "") << "a double free is still caught";
}

TEST(GraphPools, ReleaseWithLiveBlocksGivesTheSegmentsBackAfterTheLastFree) {
  FakeDevice device;
  PoolSet set(device);
  const uint64_t id = set.open_private_pool();
  set.route_this_thread(id);
  void* a = set.allocate(1000);
  void* b = set.allocate(5 * kMiB);
  set.route_this_thread(0);
  set.release_private_pool(id);
  EXPECT_EQ(device.frees, 0);
  EXPECT_EQ(set.num_private_pools(), 1u);
  EXPECT_TRUE(contains(error_of([&] { set.route_this_thread(id); }), "released"));
  set.deallocate(a);
  EXPECT_EQ(device.frees, 0) << "a block is still handed out";
  EXPECT_EQ(set.private_pool_reserved_bytes(id), kSegment + 6 * kMiB);
  set.deallocate(b);
  EXPECT_EQ(device.frees, 2);
  EXPECT_EQ(device.used(), 0u);
  EXPECT_EQ(set.num_private_pools(), 0u);
  EXPECT_EQ(set.private_pool_reserved_bytes(id), 0u);
  set.release_private_pool(id);  // again: nothing left to do, no error
}

TEST(GraphPools, ReleaseOfAnIdlePoolGivesBackAtOnce) {
  FakeDevice device;
  PoolSet set(device);
  const uint64_t id = set.open_private_pool();
  set.route_this_thread(id);
  set.deallocate(set.allocate(1000));
  set.route_this_thread(0);
  set.release_private_pool(id);
  EXPECT_EQ(device.frees, 1);
  EXPECT_EQ(set.num_private_pools(), 0u);
  EXPECT_EQ(set.stats().reserved_bytes, 0u);
}

TEST(GraphPools, NothingIsGivenBackWhileAThreadRoutesToThePoolOrCaptures) {
  FakeDevice device(5 * kMiB);
  PoolSet set(device);
  const uint64_t id = set.open_private_pool();
  {
    CaptureScope capture;
    set.route_this_thread(id);
    set.deallocate(set.allocate(2 * kMiB));  // a free 2 MiB segment
    // Needs a 4 MiB segment: 2 + 4 fit the 5 MiB device only after giving the cached one back,
    // which a capture must not do. It fails at once, naming the capture and the request.
    const std::string message = error_of([&] { set.allocate(3 * kMiB + 1); });
    EXPECT_TRUE(contains(message, "while capturing a CUDA graph")) << message;
    EXPECT_TRUE(contains(message, "3145729 bytes")) << message;
    EXPECT_EQ(device.frees, 0);
    EXPECT_EQ(device.syncs, 0);
    EXPECT_EQ(set.stats().num_ooms, 1u);
    EXPECT_EQ(set.stats().num_oom_retries, 0u);
    // The main pool refuses a capturing thread; emptying the cache is refused too.
    set.route_this_thread(0);
    EXPECT_TRUE(contains(error_of([&] { set.allocate(100); }), "private pool"));
    EXPECT_TRUE(contains(error_of([&] { set.empty_cache(); }), "emptying the CUDA memory cache"));
    // A released pool whose last block is freed on a capturing thread waits for later.
    set.route_this_thread(id);
    void* last = set.allocate(1000);
    set.route_this_thread(0);
    set.release_private_pool(id);
    set.deallocate(last);
    EXPECT_EQ(device.frees, 0);
    EXPECT_EQ(device.syncs, 0);
    EXPECT_EQ(set.num_private_pools(), 1u);
  }
  set.empty_cache();  // outside the capture: the released pool goes
  EXPECT_EQ(set.num_private_pools(), 0u);
  EXPECT_EQ(device.used(), 0u);
}

TEST(GraphPools, ARoutedPoolKeepsItsSegmentsWhileAnyThreadRoutesThere) {
  FakeDevice device(5 * kMiB);
  PoolSet set(device);
  const uint64_t id = set.open_private_pool();
  set.route_this_thread(id);
  set.deallocate(set.allocate(2 * kMiB));
  EXPECT_TRUE(contains(error_of([&] { set.allocate(3 * kMiB + 1); }), "CUDA graph"));
  EXPECT_EQ(device.frees, 0);
  std::thread other([&] { set.route_this_thread(id); });  // a second thread routes there too
  other.join();  // and exits still routed: the pool stays held
  set.route_this_thread(0);
  set.route_this_thread(id);
  EXPECT_TRUE(contains(error_of([&] { set.allocate(3 * kMiB + 1); }), "CUDA graph"));
  EXPECT_EQ(device.frees, 0);
  set.route_this_thread(0);
}

TEST(GraphPools, StatsSumTheMainAndPrivatePoolsAndKeepTheCountsOfDroppedOnes) {
  FakeDevice device;
  PoolSet set(device);
  void* m = set.allocate(1000);
  const uint64_t id = set.open_private_pool();
  set.route_this_thread(id);
  void* g = set.allocate(3 * kMiB);
  set.route_this_thread(0);
  MemoryStats s = set.stats();
  EXPECT_EQ(s.allocated_bytes, 1024 + 4 * kMiB);  // 1000 B rounded; 3 MiB takes its segment
  EXPECT_EQ(s.reserved_bytes, kSegment + 4 * kMiB);
  EXPECT_EQ(s.num_allocs, 2u);
  EXPECT_EQ(s.num_device_allocs, 2u);
  EXPECT_EQ(s.active_blocks, 2u);
  EXPECT_EQ(s.segments, 2u);
  EXPECT_EQ(s.peak_reserved_bytes, kSegment + 4 * kMiB);
  set.release_private_pool(id);
  set.deallocate(g);
  s = set.stats();
  EXPECT_EQ(s.allocated_bytes, 1024u);
  EXPECT_EQ(s.reserved_bytes, kSegment);
  EXPECT_EQ(s.num_allocs, 2u) << "the dropped pool's counts stay";
  EXPECT_EQ(s.num_frees, 1u);
  EXPECT_EQ(s.num_device_frees, 1u);
  EXPECT_EQ(s.segments, 1u);
  EXPECT_EQ(s.peak_reserved_bytes, kSegment + 4 * kMiB);
  set.reset_peak_stats();
  EXPECT_EQ(set.stats().peak_reserved_bytes, kSegment);
  set.deallocate(m);
}

TEST(GraphPools, EmptyCacheSparesLiveGraphsPoolsButNotReleasedOnes) {
  FakeDevice device;
  PoolSet set(device);
  set.deallocate(set.allocate(1000));  // a free main-pool segment
  const uint64_t live = set.open_private_pool(), released = set.open_private_pool();
  set.route_this_thread(live);
  set.deallocate(set.allocate(1000));  // free, but the graph replays into it
  set.route_this_thread(released);
  void* held = set.allocate(1000);
  set.deallocate(set.allocate(3 * kMiB));  // an entirely free 4 MiB segment
  set.route_this_thread(0);
  set.release_private_pool(released);
  set.empty_cache();
  EXPECT_EQ(set.main_pool().stats().reserved_bytes, 0u);
  EXPECT_EQ(set.private_pool_reserved_bytes(live), kSegment);
  EXPECT_EQ(set.private_pool_reserved_bytes(released), kSegment) << "the free 4 MiB went back";
  set.deallocate(held);
  EXPECT_EQ(set.private_pool_reserved_bytes(released), 0u);
  EXPECT_EQ(device.used(), kSegment);  // the live graph's segment only
}

TEST(GraphPools, PrivatePoolsNeedTheCachingMode) {
  for (AllocatorMode mode : {AllocatorMode::Direct, AllocatorMode::Deferred}) {
    FakeDevice device;
    PoolSet set(device, {.mode = mode});
    const std::string message = error_of([&] { set.open_private_pool(); });
    EXPECT_TRUE(contains(message, "EMBER_CUDA_ALLOCATOR=")) << message;
    EXPECT_TRUE(contains(message, "caching")) << message;
    EXPECT_EQ(set.num_private_pools(), 0u);
    set.deallocate(set.allocate(100));  // the main pool works as before
  }
}

TEST(GraphPools, UnknownIdsAreErrors) {
  FakeDevice device;
  PoolSet set(device);
  EXPECT_TRUE(contains(error_of([&] { set.route_this_thread(7); }), "no open private pool"));
  EXPECT_TRUE(contains(error_of([&] { set.release_private_pool(7); }), "no private pool"));
  EXPECT_TRUE(contains(error_of([&] { set.release_private_pool(0); }), "no private pool"));
  EXPECT_TRUE(contains(error_of([&] { set.private_pool_reserved_bytes(3); }), "no private pool"));
}

// --- On a GPU --------------------------------------------------------------------------------

TEST(CudaGraphPool, ATensorAllocatedWhileRoutedLivesInThePoolUntilFreedAfterRelease) {
  EMBER_REQUIRE_CUDA_GRAPHS();  // private pools need the caching allocator
  const MemoryStats before = cuda_memory_stats(0);
  const uint64_t id = cuda_graph_pool_open(0);
  EXPECT_NE(id, 0u);
  EXPECT_EQ(cuda_graph_pool_reserved_bytes(0, id), 0u);
  cuda_graph_pool_route(0, id);
  Tensor t = empty({1000}, {.device = Device::cuda(0)});
  cuda_graph_pool_route(0, 0);
  Tensor outside = empty({1000}, {.device = Device::cuda(0)});
  EXPECT_NE(t.raw_data(), outside.raw_data());
  EXPECT_EQ(cuda_graph_pool_reserved_bytes(0, id), kSegment);
  const MemoryStats during = cuda_memory_stats(0);
  EXPECT_GE(during.reserved_bytes, before.reserved_bytes + kSegment);
  EXPECT_EQ(during.allocated_bytes, before.allocated_bytes + 2 * 4096);
  cuda_graph_pool_release(0, id);
  EXPECT_EQ(cuda_graph_pool_reserved_bytes(0, id), kSegment) << "t still lives there";
  t = Tensor();
  EXPECT_EQ(cuda_graph_pool_reserved_bytes(0, id), 0u);
  const MemoryStats after = cuda_memory_stats(0);
  EXPECT_EQ(after.reserved_bytes, during.reserved_bytes - kSegment);
  EXPECT_EQ(after.num_device_frees, during.num_device_frees + 1);
  EXPECT_TRUE(contains(error_of([&] { cuda_graph_pool_route(0, id); }), "released"));
}

}  // namespace
}  // namespace ember
