// The caching device allocator's pool logic (tensor/block_pool.h) and the pinned host cache
// (tensor/pinned_pool.h), run on the CPU against fake backends that hand out fake addresses and
// record every raw call. These run in every build (no GPU needed) and are the main proof of the
// allocator: reuse, best fit, splitting, the split limit, merging, stats and peaks, empty_cache,
// the out-of-memory retry and message, direct mode, deferred mode (freed blocks held back until
// their event completes), the pinned buffers' event protection, and a randomized run checking
// the pool's invariants after every step. The GPU side is tests/test_cuda_memory.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "expect_error.h"
#include "fake_raw_backend.h"
#include "tensor/block_pool.h"
#include "tensor/memory.h"
#include "tensor/pinned_pool.h"

namespace ember {
namespace {

using memory::AllocatorMode;
using testing::FakeDevice;
using memory::BlockPool;
using memory::kMiB;
using memory::PinnedPool;
using memory::PoolConfig;
using testing::error_of;

constexpr size_t kKiB = 1024;

int count_of(const std::vector<std::string>& log, const std::string& entry) {
  return static_cast<int>(std::count(log.begin(), log.end(), entry));
}

char* as_bytes(void* p) { return static_cast<char*>(p); }

#define EXPECT_POOL_OK(pool) EXPECT_EQ((pool).check_invariants(), "")

// ---------------------------------------------------------------------------------------------
// Sizes, pools and reuse

TEST(CachingAllocator, RoundsTo512AndCarvesSmallRequestsFromTwoMiBSegments) {
  FakeDevice device;
  BlockPool pool(device);
  void* a = pool.allocate(1);
  EXPECT_EQ(pool.block_size(a), 512u);
  EXPECT_EQ(device.log, std::vector<std::string>{"alloc 2097152"});
  void* b = pool.allocate(513);
  EXPECT_EQ(pool.block_size(b), 1024u);
  EXPECT_EQ(as_bytes(b), as_bytes(a) + 512) << "the second block is split from the same segment";
  EXPECT_EQ(device.allocs, 1);

  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.allocated_bytes, 1536u);
  EXPECT_EQ(s.requested_bytes, 514u);
  EXPECT_EQ(s.reserved_bytes, 2 * kMiB);
  EXPECT_EQ(s.num_allocs, 2u);
  EXPECT_EQ(s.num_device_allocs, 1u);
  EXPECT_EQ(s.cache_hits, 1u) << "the second request needed no device allocation";
  EXPECT_EQ(s.active_blocks, 2u);
  EXPECT_EQ(s.segments, 1u);
  EXPECT_POOL_OK(pool);
  pool.deallocate(a);
  pool.deallocate(b);
  EXPECT_POOL_OK(pool);
}

TEST(CachingAllocator, ZeroBytesGiveNullAndTouchNothing) {
  FakeDevice device;
  BlockPool pool(device);
  EXPECT_EQ(pool.allocate(0), nullptr);
  pool.deallocate(nullptr);
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.num_allocs, 0u);
  EXPECT_EQ(s.num_frees, 0u);
  EXPECT_EQ(device.allocs, 0);
}

TEST(CachingAllocator, OneMiBIsSmallAndOneByteMoreIsLarge) {
  FakeDevice device;
  BlockPool pool(device);
  void* a = pool.allocate(kMiB);
  void* b = pool.allocate(kMiB);
  EXPECT_EQ(as_bytes(b), as_bytes(a) + kMiB) << "two 1 MiB blocks share one small segment";
  EXPECT_EQ(device.allocs, 1);
  void* c = pool.allocate(kMiB + 1);
  EXPECT_EQ(device.allocs, 2);
  EXPECT_EQ(device.log.back(), "alloc 2097152") << "a large segment rounded up to 2 MiB";
  // The 2 MiB - (1 MiB + 512) remainder is below 1 MiB: not worth a block, handed out whole.
  EXPECT_EQ(pool.block_size(c), 2 * kMiB);
  EXPECT_EQ(pool.stats().requested_bytes, 3 * kMiB + 1);
  EXPECT_POOL_OK(pool);
  for (void* p : {a, b, c}) pool.deallocate(p);
  EXPECT_POOL_OK(pool);
}

TEST(CachingAllocator, LargeSegmentsAreRoundedAndRemaindersAboveOneMiBSplitOff) {
  FakeDevice device;
  BlockPool pool(device);
  void* a = pool.allocate(5 * kMiB);  // 6 MiB segment, 1 MiB remainder: kept whole
  EXPECT_EQ(device.log.back(), "alloc 6291456");
  EXPECT_EQ(pool.block_size(a), 6 * kMiB);
  void* b = pool.allocate(4 * kMiB + kMiB / 2);  // 6 MiB segment, 1.5 MiB remainder: split
  EXPECT_EQ(pool.block_size(b), 4 * kMiB + kMiB / 2);
  EXPECT_EQ(pool.stats().reserved_bytes, 12 * kMiB);
  // The 1.5 MiB remainder serves a 1.2 MiB request without the device; its own 0.3 MiB
  // remainder is too small to split.
  const size_t small_large = kMiB + kMiB / 5;
  void* c = pool.allocate(small_large);
  EXPECT_EQ(as_bytes(c), as_bytes(b) + 4 * kMiB + kMiB / 2);
  EXPECT_EQ(pool.block_size(c), kMiB + kMiB / 2);
  EXPECT_EQ(device.allocs, 2);
  EXPECT_EQ(pool.stats().cache_hits, 1u);
  EXPECT_POOL_OK(pool);
  for (void* p : {a, b, c}) pool.deallocate(p);
  EXPECT_POOL_OK(pool);
}

TEST(CachingAllocator, FreedBlockIsReusedByTheNextRequest) {
  FakeDevice device;
  BlockPool pool(device);
  void* a = pool.allocate(1000);
  pool.deallocate(a);
  void* b = pool.allocate(900);  // same rounded size class: 1024
  EXPECT_EQ(b, a);
  void* big = pool.allocate(10 * kMiB);
  pool.deallocate(big);
  void* big2 = pool.allocate(10 * kMiB);
  EXPECT_EQ(big2, big);
  EXPECT_EQ(device.allocs, 2);
  EXPECT_EQ(device.syncs, 0) << "reuse never waits for the GPU (stream order protects it)";
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.cache_hits, 2u);
  EXPECT_EQ(s.num_frees, 2u);
  pool.deallocate(b);
  pool.deallocate(big2);
  EXPECT_POOL_OK(pool);
}

TEST(CachingAllocator, SmallAndLargePoolsDoNotShareBlocks) {
  FakeDevice device;
  BlockPool pool(device);
  void* large = pool.allocate(4 * kMiB);
  pool.deallocate(large);
  void* small = pool.allocate(1000);  // a 4 MiB large block is free, but small requests stay small
  EXPECT_EQ(device.allocs, 2);
  EXPECT_NE(small, large);
  void* small2 = pool.allocate(100 * kKiB);
  pool.deallocate(small);
  pool.deallocate(small2);  // small segment now entirely free (2 MiB)
  void* large2 = pool.allocate(2 * kMiB);  // fits the free small segment exactly: still large pool
  EXPECT_EQ(large2, large) << "the free large block is the best fit in the large pool";
  EXPECT_EQ(device.allocs, 2);
  pool.deallocate(large2);
  EXPECT_POOL_OK(pool);
}

TEST(CachingAllocator, BestFitTakesTheSmallestFreeBlockThenTheLowestAddress) {
  FakeDevice device;
  BlockPool pool(device);
  void* a = pool.allocate(8 * kMiB);
  void* b = pool.allocate(4 * kMiB);
  void* c = pool.allocate(6 * kMiB);
  void* d = pool.allocate(6 * kMiB);
  pool.deallocate(d);
  pool.deallocate(a);
  pool.deallocate(c);
  // Free: 8 MiB (a), 6 MiB (c, lower), 6 MiB (d). 5 MiB takes a 6 MiB block, the lower one.
  void* e = pool.allocate(5 * kMiB);
  EXPECT_EQ(e, c);
  EXPECT_EQ(pool.block_size(e), 6 * kMiB) << "a 1 MiB remainder is not split off";
  void* f = pool.allocate(5 * kMiB);
  EXPECT_EQ(f, d);
  void* g = pool.allocate(7 * kMiB);
  EXPECT_EQ(g, a);
  EXPECT_EQ(device.allocs, 4);
  for (void* p : {b, e, f, g}) pool.deallocate(p);
  EXPECT_POOL_OK(pool);
}

// ---------------------------------------------------------------------------------------------
// Splitting and merging

TEST(CachingAllocator, FreedNeighboursMergeBackIntoTheWholeSegment) {
  FakeDevice device;
  BlockPool pool(device);
  void* a = pool.allocate(512 * kKiB);
  void* b = pool.allocate(512 * kKiB);
  void* c = pool.allocate(512 * kKiB);
  ASSERT_EQ(as_bytes(b), as_bytes(a) + 512 * kKiB);
  ASSERT_EQ(as_bytes(c), as_bytes(b) + 512 * kKiB);
  EXPECT_EQ(device.allocs, 1);

  pool.deallocate(b);  // free: b, tail (not adjacent to each other)
  EXPECT_POOL_OK(pool);
  pool.deallocate(a);  // a merges with b into 1 MiB at a
  EXPECT_POOL_OK(pool);
  void* ab = pool.allocate(kMiB);
  EXPECT_EQ(ab, a) << "the merged a+b block is the best fit for 1 MiB";
  EXPECT_EQ(pool.block_size(ab), kMiB);
  pool.deallocate(ab);
  pool.deallocate(c);  // c merges with a+b before it and the tail after it
  EXPECT_POOL_OK(pool);

  // The segment is one free block again: a request gets its start, and once that is freed
  // too, empty_cache can give the whole segment back.
  void* whole = pool.allocate(kMiB);
  EXPECT_EQ(whole, a);
  pool.deallocate(whole);
  pool.empty_cache();
  EXPECT_EQ(pool.stats().reserved_bytes, 0u);
  EXPECT_EQ(device.frees, 1);
  EXPECT_EQ(device.live_segments(), 0u);
}

TEST(CachingAllocator, MergingNeverCrossesSegments) {
  FakeDevice device;
  BlockPool pool(device);
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(pool.allocate(kMiB));
  ASSERT_EQ(device.allocs, 2);
  // The fake hands out adjacent addresses: segment 2 starts where segment 1 ends.
  ASSERT_EQ(as_bytes(blocks[2]), as_bytes(blocks[1]) + kMiB);
  for (void* p : blocks) pool.deallocate(p);
  EXPECT_POOL_OK(pool);  // would report a 4 MiB small segment after a cross-segment merge
  EXPECT_EQ(pool.stats().segments, 2u);
  pool.empty_cache();
  EXPECT_EQ(device.frees, 2);
  EXPECT_EQ(device.used(), 0u);
}

TEST(CachingAllocator, FreeBlockBetweenTwoLiveOnesStaysSeparate) {
  FakeDevice device;
  BlockPool pool(device);
  void* a = pool.allocate(256 * kKiB);
  void* b = pool.allocate(256 * kKiB);
  void* c = pool.allocate(256 * kKiB);
  pool.deallocate(b);
  // A request the hole fits exactly goes into the hole, not the larger tail.
  void* d = pool.allocate(200 * kKiB);
  EXPECT_EQ(d, b);
  EXPECT_EQ(pool.block_size(d), 200 * kKiB) << "split: 56 KiB stay free in the hole";
  void* e = pool.allocate(56 * kKiB);
  EXPECT_EQ(as_bytes(e), as_bytes(b) + 200 * kKiB);
  EXPECT_POOL_OK(pool);
  for (void* p : {a, c, d, e}) pool.deallocate(p);
  EXPECT_POOL_OK(pool);
}

// ---------------------------------------------------------------------------------------------
// Split limit

TEST(CachingAllocator, OversizeBlocksAreNeitherSplitNorUsedForSmallerRequests) {
  FakeDevice device;
  BlockPool pool(device, {AllocatorMode::Caching, 32 * kMiB});
  void* huge = pool.allocate(100 * kMiB);
  pool.deallocate(huge);

  // A 4 MiB request must not carve the cached 100 MiB block: it gets a segment of its own.
  void* small = pool.allocate(4 * kMiB);
  EXPECT_NE(small, huge);
  EXPECT_EQ(device.allocs, 2);
  // Nor may a request just under the limit.
  void* under = pool.allocate(32 * kMiB);
  EXPECT_NE(under, huge);
  EXPECT_EQ(device.allocs, 3);

  // An oversize request within the 20 MiB slack reuses the block whole, without splitting.
  void* near = pool.allocate(90 * kMiB);
  EXPECT_EQ(near, huge);
  EXPECT_EQ(pool.block_size(near), 100 * kMiB);
  EXPECT_EQ(device.allocs, 3);
  pool.deallocate(near);

  // Further away than the slack: a new segment instead of wasting 40 MiB.
  void* far = pool.allocate(60 * kMiB);
  EXPECT_NE(far, huge);
  EXPECT_EQ(device.allocs, 4);
  EXPECT_EQ(device.log.back(), "alloc 62914560");
  EXPECT_POOL_OK(pool);
  for (void* p : {small, under, far}) pool.deallocate(p);
  EXPECT_POOL_OK(pool);
}

TEST(CachingAllocator, BlocksUnderTheLimitAreSplitForSmallerRequests) {
  FakeDevice device;
  BlockPool pool(device, {AllocatorMode::Caching, 32 * kMiB});
  void* a = pool.allocate(20 * kMiB);
  pool.deallocate(a);
  void* b = pool.allocate(4 * kMiB);
  EXPECT_EQ(b, a);
  EXPECT_EQ(pool.block_size(b), 4 * kMiB);
  void* c = pool.allocate(16 * kMiB);  // the 16 MiB remainder
  EXPECT_EQ(as_bytes(c), as_bytes(a) + 4 * kMiB);
  EXPECT_EQ(device.allocs, 1);
  pool.deallocate(b);
  pool.deallocate(c);
  EXPECT_POOL_OK(pool);
}

TEST(CachingAllocator, DefaultLimitLetsAHundredMiBBlockServeSmallerRequests) {
  FakeDevice device;
  BlockPool pool(device);  // default max_split_size: 256 MiB
  ASSERT_GT(memory::kDefaultMaxSplitSize, 100 * kMiB);
  void* huge = pool.allocate(100 * kMiB);
  pool.deallocate(huge);
  void* small = pool.allocate(4 * kMiB);
  EXPECT_EQ(small, huge);
  EXPECT_EQ(device.allocs, 1);
  pool.deallocate(small);
  EXPECT_POOL_OK(pool);
}

TEST(CachingAllocator, ConfigRejectsASplitLimitBelowTheSegmentGranularity) {
  FakeDevice device;
  EXPECT_NE(error_of([&] { BlockPool pool(device, {AllocatorMode::Caching, kMiB}); }), "");
}

// ---------------------------------------------------------------------------------------------
// Stats

TEST(CachingAllocator, StatsTrackInUseReservedAndPeaks) {
  FakeDevice device;
  BlockPool pool(device);
  void* a = pool.allocate(10 * kMiB);
  void* b = pool.allocate(20 * kMiB);
  pool.deallocate(a);
  MemoryStats s = pool.stats();
  EXPECT_EQ(s.allocated_bytes, 20 * kMiB);
  EXPECT_EQ(s.reserved_bytes, 30 * kMiB);
  EXPECT_EQ(s.peak_allocated_bytes, 30 * kMiB);
  EXPECT_EQ(s.peak_reserved_bytes, 30 * kMiB);
  EXPECT_EQ(s.num_allocs, 2u);
  EXPECT_EQ(s.num_frees, 1u);
  EXPECT_EQ(s.active_blocks, 1u);

  pool.reset_peak_stats();
  s = pool.stats();
  EXPECT_EQ(s.peak_allocated_bytes, 20 * kMiB);
  EXPECT_EQ(s.peak_reserved_bytes, 30 * kMiB);

  pool.empty_cache();  // gives a's segment back
  s = pool.stats();
  EXPECT_EQ(s.reserved_bytes, 20 * kMiB);
  EXPECT_EQ(s.peak_reserved_bytes, 30 * kMiB) << "a peak survives until reset";
  EXPECT_EQ(s.num_device_frees, 1u);
  pool.reset_peak_stats();
  EXPECT_EQ(pool.stats().peak_reserved_bytes, 20 * kMiB);

  void* c = pool.allocate(5 * kMiB);  // a new 6 MiB segment (b's is taken)
  s = pool.stats();
  EXPECT_EQ(s.peak_allocated_bytes, 26 * kMiB);
  EXPECT_EQ(s.peak_reserved_bytes, 26 * kMiB);
  EXPECT_EQ(s.num_device_allocs, 3u);
  pool.deallocate(b);
  pool.deallocate(c);
  s = pool.stats();
  EXPECT_EQ(s.allocated_bytes, 0u);
  EXPECT_EQ(s.requested_bytes, 0u);
  EXPECT_EQ(s.active_blocks, 0u);
  EXPECT_EQ(s.peak_allocated_bytes, 26 * kMiB);

  const std::string text = describe(s);
  EXPECT_NE(text.find("in use 0 B (peak 26.00 MiB)"), std::string::npos) << text;
  EXPECT_NE(text.find("reserved 26.00 MiB"), std::string::npos) << text;
}

TEST(CachingAllocator, FormatBytesPicksTheUnit) {
  EXPECT_EQ(memory::format_bytes(0), "0 B");
  EXPECT_EQ(memory::format_bytes(1023), "1023 B");
  EXPECT_EQ(memory::format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(memory::format_bytes(3 * kMiB), "3.00 MiB");
  EXPECT_EQ(memory::format_bytes(size_t{80} << 30), "80.00 GiB");
}

// ---------------------------------------------------------------------------------------------
// empty_cache

TEST(CachingAllocator, EmptyCacheGivesBackOnlyEntirelyFreeSegmentsAfterWaiting) {
  FakeDevice device;
  BlockPool pool(device);
  void* kept = pool.allocate(100 * kKiB);       // small segment 1, stays in use
  void* gone_small = pool.allocate(kMiB);       // also segment 1
  void* gone_large = pool.allocate(8 * kMiB);   // large segment, will be entirely free
  void* kept_large = pool.allocate(4 * kMiB);
  pool.deallocate(gone_small);
  pool.deallocate(gone_large);
  device.log.clear();
  pool.empty_cache();
  // Waits for the GPU once, then frees only the 8 MiB segment (segment 1 is partly in use).
  EXPECT_EQ(device.log, (std::vector<std::string>{"sync", "free 8388608"}));
  MemoryStats s = pool.stats();
  EXPECT_EQ(s.reserved_bytes, 2 * kMiB + 4 * kMiB);
  EXPECT_EQ(s.segments, 2u);
  EXPECT_POOL_OK(pool);

  // Nothing free: no wait, no calls.
  device.log.clear();
  pool.deallocate(kept_large);
  pool.allocate(4 * kMiB);  // takes it back
  device.log.clear();
  pool.empty_cache();
  EXPECT_TRUE(device.log.empty());

  // After empty_cache the next request goes to the device again.
  void* again = pool.allocate(8 * kMiB);
  EXPECT_EQ(device.log, std::vector<std::string>{"alloc 8388608"});
  pool.deallocate(again);
  pool.deallocate(kept);
  EXPECT_POOL_OK(pool);
}

// ---------------------------------------------------------------------------------------------
// Out of memory

TEST(CachingAllocator, OutOfMemoryEmptiesTheCacheAndRetriesOnce) {
  FakeDevice device(10 * kMiB);
  BlockPool pool(device);
  void* a = pool.allocate(8 * kMiB);
  pool.deallocate(a);  // 8 MiB cached; device has 2 MiB left
  void* b = pool.allocate(9 * kMiB);  // needs a 10 MiB segment: cached 8 MiB cannot serve it
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(device.log, (std::vector<std::string>{"alloc 8388608", "fail 10485760", "sync",
                                                  "free 8388608", "alloc 10485760"}));
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.num_oom_retries, 1u);
  EXPECT_EQ(s.num_ooms, 0u);
  EXPECT_EQ(s.reserved_bytes, 10 * kMiB);
  EXPECT_EQ(s.allocated_bytes, 10 * kMiB);
  EXPECT_EQ(s.num_device_frees, 1u);
  EXPECT_POOL_OK(pool);
  pool.deallocate(b);
}

TEST(CachingAllocator, OutOfMemoryAfterTheRetryNamesTheRequestUseAndDevice) {
  FakeDevice device(10 * kMiB);
  BlockPool pool(device);
  void* held = pool.allocate(4 * kMiB);
  void* cached = pool.allocate(2 * kMiB);
  pool.deallocate(cached);
  const std::string message = error_of([&] { pool.allocate(64 * kMiB); });
  for (const std::string part :
       {"CUDA out of memory on fake:0", "tried to allocate 67108864 bytes (64.00 MiB",
        "67108864 bytes asked of the device: fake_alloc: no room",
        "4194304 bytes (4.00 MiB) in use", "4194304 bytes (4.00 MiB) reserved",
        "6.00 MiB (6291456 bytes) free of 10.00 MiB (10485760 bytes)", "block_pool.cpp:"})
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' missing from: " << message;
  // Two tries, the cache given back in between; the pool is unchanged otherwise and usable.
  EXPECT_EQ(device.failed_allocs, 2);
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.num_ooms, 1u);
  EXPECT_EQ(s.num_oom_retries, 1u);
  EXPECT_EQ(s.allocated_bytes, 4 * kMiB);
  EXPECT_EQ(s.reserved_bytes, 4 * kMiB);
  EXPECT_POOL_OK(pool);
  void* after = pool.allocate(4 * kMiB);
  EXPECT_NE(after, nullptr);
  pool.deallocate(after);
  pool.deallocate(held);
  EXPECT_POOL_OK(pool);
}

TEST(CachingAllocator, HugeRequestsFailCleanly) {
  FakeDevice device;
  BlockPool pool(device);
  EXPECT_NE(error_of([&] { pool.allocate(SIZE_MAX); }).find("overflows"), std::string::npos);
  EXPECT_NE(error_of([&] { pool.allocate(size_t{1} << 50); }).find("out of memory"),
            std::string::npos);
  EXPECT_POOL_OK(pool);
}

TEST(CachingAllocator, ForeignPointersAndDoubleFreesThrow) {
  FakeDevice device;
  BlockPool pool(device);
  void* a = pool.allocate(1000);
  pool.deallocate(a);
  EXPECT_NE(error_of([&] { pool.deallocate(a); }).find("double free"), std::string::npos);
  int local = 0;
  EXPECT_NE(error_of([&] { pool.deallocate(&local); }).find("not a block"), std::string::npos);
  EXPECT_POOL_OK(pool);
}

// ---------------------------------------------------------------------------------------------
// Direct mode (EMBER_CUDA_ALLOCATOR=direct)

TEST(CachingAllocator, DirectModeAllocatesExactSizesAndFreesAtOnce) {
  FakeDevice device;
  BlockPool pool(device, {AllocatorMode::Direct});
  void* a = pool.allocate(1000);
  EXPECT_EQ(device.log, std::vector<std::string>{"alloc 1000"}) << "exact size: no rounding";
  EXPECT_EQ(pool.block_size(a), 1000u);
  MemoryStats s = pool.stats();
  EXPECT_EQ(s.allocated_bytes, 1000u);
  EXPECT_EQ(s.requested_bytes, 1000u);
  EXPECT_EQ(s.reserved_bytes, 1000u);
  EXPECT_EQ(s.active_blocks, 1u);
  pool.deallocate(a);
  EXPECT_EQ(device.log, (std::vector<std::string>{"alloc 1000", "sync", "free 1000"}))
      << "waits for queued work, then gives the memory back";
  void* b = pool.allocate(1000);
  EXPECT_EQ(device.allocs, 2) << "nothing is cached";
  s = pool.stats();
  EXPECT_EQ(s.cache_hits, 0u);
  EXPECT_EQ(s.num_device_allocs, 2u);
  EXPECT_EQ(s.num_device_frees, 1u);
  EXPECT_EQ(s.peak_allocated_bytes, 1000u);
  EXPECT_POOL_OK(pool);
  pool.empty_cache();  // nothing to do
  EXPECT_EQ(device.frees, 1);
  pool.deallocate(b);
  EXPECT_EQ(pool.stats().allocated_bytes, 0u);
  EXPECT_EQ(pool.stats().reserved_bytes, 0u);
  EXPECT_NE(error_of([&] { pool.deallocate(b); }).find("double free"), std::string::npos);
}

TEST(CachingAllocator, DirectModeOutOfMemoryNamesTheRequest) {
  FakeDevice device(kMiB);
  BlockPool pool(device, {AllocatorMode::Direct});
  const std::string message = error_of([&] { pool.allocate(2 * kMiB); });
  EXPECT_NE(message.find("CUDA out of memory on fake:0: tried to allocate 2097152 bytes"),
            std::string::npos) << message;
  EXPECT_EQ(pool.stats().num_ooms, 1u);
}

// ---------------------------------------------------------------------------------------------
// Deferred mode (EMBER_CUDA_ALLOCATOR=deferred): a freed block waits for its event

TEST(CachingAllocator, DeferredModeHoldsAFreedBlockBackUntilItsEventCompletes) {
  FakeDevice device;
  BlockPool pool(device, {AllocatorMode::Deferred});
  void* a = pool.allocate(4 * kMiB);
  void* b = pool.allocate(4 * kMiB);
  pool.deallocate(b);
  device.finish_all();  // the work queued before b's free is done...
  pool.deallocate(a);   // ...but not the work before a's
  EXPECT_EQ(device.records, 2);
  MemoryStats s = pool.stats();
  EXPECT_EQ(s.pending_free_bytes, 8 * kMiB) << "nothing polled yet";
  EXPECT_EQ(s.allocated_bytes, 0u) << "a pending block is no longer in use";
  EXPECT_EQ(s.num_frees, 2u);
  EXPECT_EQ(s.active_blocks, 0u);
  EXPECT_POOL_OK(pool);

  device.log.clear();
  void* c = pool.allocate(4 * kMiB);
  // The caching mode would hand out a (same size, lower address): the GPU may still use it.
  EXPECT_EQ(c, b) << "a's event is pending, so a must not be handed out";
  EXPECT_TRUE(device.log.empty()) << "b was at hand: no wait, no new segment";
  s = pool.stats();
  EXPECT_EQ(s.pending_free_bytes, 4 * kMiB);
  EXPECT_EQ(s.allocated_bytes, 4 * kMiB);
  EXPECT_EQ(s.reserved_bytes, 8 * kMiB);
  EXPECT_POOL_OK(pool);

  device.finish_all();
  void* d = pool.allocate(4 * kMiB);
  EXPECT_EQ(d, a) << "reused once its event has completed, without waiting";
  EXPECT_TRUE(device.log.empty());
  s = pool.stats();
  EXPECT_EQ(s.pending_free_bytes, 0u);
  EXPECT_EQ(s.num_pending_waits, 0u);
  EXPECT_EQ(s.cache_hits, 2u);
  EXPECT_EQ(s.num_device_allocs, 2u);
  EXPECT_POOL_OK(pool);
  pool.deallocate(c);
  pool.deallocate(d);
}

TEST(CachingAllocator, DeferredModeWaitsForAPendingFreeRatherThanGrowThePool) {
  FakeDevice device;
  BlockPool pool(device, {AllocatorMode::Deferred});
  void* a = pool.allocate(4 * kMiB);
  pool.deallocate(a);
  device.log.clear();
  void* b = pool.allocate(4 * kMiB);
  EXPECT_EQ(b, a) << "the pending block, after its work is done";
  EXPECT_EQ(device.log, std::vector<std::string>{"wait"}) << "waited on a's event, no cudaMalloc";
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.num_pending_waits, 1u);
  EXPECT_EQ(s.num_device_allocs, 1u);
  EXPECT_EQ(s.pending_free_bytes, 0u);
  EXPECT_POOL_OK(pool);

  // A pending block of the other pool cannot serve the request: no wait, a new segment.
  void* small = pool.allocate(1000);
  pool.deallocate(small);
  device.log.clear();
  void* c = pool.allocate(4 * kMiB);
  EXPECT_EQ(device.log, std::vector<std::string>{"alloc 4194304"});
  EXPECT_EQ(pool.stats().pending_free_bytes, 1024u);
  pool.deallocate(b);
  pool.deallocate(c);
  EXPECT_POOL_OK(pool);
}

TEST(CachingAllocator, DeferredModePendingBlocksMergeWithTheirNeighboursWhenReleased) {
  FakeDevice device;
  BlockPool pool(device, {AllocatorMode::Deferred});
  void* x = pool.allocate(100 * kKiB);  // x, y, z and the free rest share one small segment
  void* y = pool.allocate(100 * kKiB);
  void* z = pool.allocate(100 * kKiB);
  pool.deallocate(y);
  pool.deallocate(x);
  EXPECT_POOL_OK(pool) << "pending neighbours stay apart while their events are pending";
  device.finish_all();
  void* w = pool.allocate(200 * kKiB);
  EXPECT_EQ(w, x) << "x and y merged into one free block of exactly 200 KiB, the best fit";
  EXPECT_EQ(pool.block_size(w), 200 * kKiB);
  EXPECT_POOL_OK(pool);

  // z pending next to the free rest of the segment; w freed too. Once done, all four merge back
  // into the whole segment, which empty_cache gives back.
  pool.deallocate(z);
  pool.deallocate(w);
  EXPECT_POOL_OK(pool);
  device.finish_all();
  device.log.clear();
  pool.empty_cache();
  EXPECT_EQ(device.log, (std::vector<std::string>{"sync", "free 2097152"}))
      << "the events were done: no wait, and the segment was one free block again";
  EXPECT_EQ(pool.stats().reserved_bytes, 0u);
  EXPECT_POOL_OK(pool);
}

TEST(CachingAllocator, DeferredModeOutOfMemoryWaitsForPendingFreesInsteadOfFailing) {
  {
    // Same pool: the pending block itself serves the request once its work is done.
    FakeDevice device(8 * kMiB);
    BlockPool pool(device, {AllocatorMode::Deferred});
    void* a = pool.allocate(8 * kMiB);
    pool.deallocate(a);
    device.log.clear();
    void* b = pool.allocate(6 * kMiB);
    EXPECT_EQ(b, a);
    EXPECT_EQ(device.log, std::vector<std::string>{"wait"});
    EXPECT_EQ(pool.stats().num_ooms, 0u);
    pool.deallocate(b);
  }
  {
    // Other pool: the device is full, the pending small segment is waited for and given back.
    FakeDevice device(10 * kMiB);
    BlockPool pool(device, {AllocatorMode::Deferred});
    void* large = pool.allocate(8 * kMiB);
    void* small = pool.allocate(1000);  // a 2 MiB segment: the device is full
    pool.deallocate(small);
    device.log.clear();
    void* b = pool.allocate(2 * kMiB);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(device.log, (std::vector<std::string>{"fail 2097152", "wait", "sync",
                                                    "free 2097152", "alloc 2097152"}));
    const MemoryStats s = pool.stats();
    EXPECT_EQ(s.num_oom_retries, 1u);
    EXPECT_EQ(s.num_ooms, 0u);
    EXPECT_EQ(s.num_pending_waits, 1u);
    EXPECT_EQ(s.pending_free_bytes, 0u);
    EXPECT_EQ(s.reserved_bytes, 10 * kMiB);
    EXPECT_POOL_OK(pool);
    pool.deallocate(large);
    pool.deallocate(b);
  }
}

TEST(CachingAllocator, DeferredModeEmptyCacheAndDestructionWaitForPendingFrees) {
  FakeDevice device;
  {
    BlockPool pool(device, {AllocatorMode::Deferred});
    void* a = pool.allocate(8 * kMiB);
    void* kept = pool.allocate(100 * kKiB);
    pool.deallocate(a);
    device.log.clear();
    pool.empty_cache();
    EXPECT_EQ(device.log, (std::vector<std::string>{"wait", "sync", "free 8388608"}))
        << "a segment goes back to the driver only after the work queued before its free";
    const MemoryStats s = pool.stats();
    EXPECT_EQ(s.reserved_bytes, 2 * kMiB);
    EXPECT_EQ(s.pending_free_bytes, 0u);
    EXPECT_EQ(s.num_pending_waits, 1u);
    EXPECT_EQ(s.segments, 1u);
    EXPECT_POOL_OK(pool);
    pool.deallocate(kept);  // still pending when the pool is destroyed
    device.log.clear();
  }
  EXPECT_EQ(device.log, (std::vector<std::string>{"wait", "sync", "free 2097152"}));
  EXPECT_EQ(device.live_segments(), 0u);
  EXPECT_EQ(device.live_events, 0) << "every event destroyed with the pool";
}

TEST(CachingAllocator, DeferredModeReusesItsEvents) {
  FakeDevice device;
  BlockPool pool(device, {AllocatorMode::Deferred});
  for (int i = 0; i < 100; ++i) {
    pool.deallocate(pool.allocate(1000));
    device.finish_all();
  }
  EXPECT_EQ(device.records, 100);
  EXPECT_EQ(device.events_created, 1) << "a finished free's event serves the next free";
  EXPECT_EQ(pool.stats().num_pending_waits, 0u);
}

TEST(CachingAllocator, DeferredModeFreeWithoutAnEventWaitsForTheDeviceAndDoesNotThrow) {
  FakeDevice device;
  BlockPool pool(device, {AllocatorMode::Deferred});
  void* a = pool.allocate(1000);
  device.fail_records = true;  // e.g. a sticky error from an earlier kernel
  device.log.clear();
  pool.deallocate(a);  // runs in destructors: must not throw
  EXPECT_EQ(device.log, std::vector<std::string>{"sync"});
  EXPECT_EQ(device.live_events, 0);
  EXPECT_EQ(pool.stats().pending_free_bytes, 0u);
  EXPECT_EQ(pool.allocate(1000), a) << "after the wait the block is safe to reuse at once";
  EXPECT_POOL_OK(pool);
}

TEST(CachingAllocator, CachingAndDirectModesNeverCreateEvents) {
  for (AllocatorMode mode : {AllocatorMode::Caching, AllocatorMode::Direct}) {
    FakeDevice device;
    {
      BlockPool pool(device, {mode});
      void* a = pool.allocate(1000);
      void* b = pool.allocate(8 * kMiB);
      pool.deallocate(a);
      pool.deallocate(b);
      pool.deallocate(pool.allocate(1000));
      pool.empty_cache();
      EXPECT_EQ(pool.stats().pending_free_bytes, 0u);
    }
    EXPECT_EQ(device.events_created, 0);
    EXPECT_EQ(device.records, 0);
    EXPECT_EQ(count_of(device.log, "wait"), 0);
  }
}

TEST(CachingAllocator, EnvironmentSettingsAreParsedStrictly) {
  EXPECT_EQ(memory::parse_allocator_mode(nullptr), AllocatorMode::Caching);
  EXPECT_EQ(memory::parse_allocator_mode(""), AllocatorMode::Caching);
  EXPECT_EQ(memory::parse_allocator_mode("caching"), AllocatorMode::Caching);
  EXPECT_EQ(memory::parse_allocator_mode("direct"), AllocatorMode::Direct);
  EXPECT_EQ(memory::parse_allocator_mode("deferred"), AllocatorMode::Deferred);
  testing::expect_error([] { memory::parse_allocator_mode("Direct!"); },
                        {"EMBER_CUDA_ALLOCATOR='Direct!'", "'direct'", "'caching'", "'deferred'"});
  testing::expect_error([] { memory::parse_allocator_mode("Deferred"); },
                        {"EMBER_CUDA_ALLOCATOR='Deferred'", "'deferred'"});
  EXPECT_EQ(memory::parse_max_split_size(nullptr), memory::kDefaultMaxSplitSize);
  EXPECT_EQ(memory::parse_max_split_size("64"), 64 * kMiB);
  testing::expect_error([] { memory::parse_max_split_size("1"); },
                        {"EMBER_CUDA_MAX_SPLIT_MB='1'", "at least 2"});
  testing::expect_error([] { memory::parse_max_split_size("12abc"); },
                        {"EMBER_CUDA_MAX_SPLIT_MB='12abc'"});
  testing::expect_error([] { memory::parse_max_split_size("99999999999999999999"); },
                        {"EMBER_CUDA_MAX_SPLIT_MB"});
}

// ---------------------------------------------------------------------------------------------
// Randomized: many interleaved requests of every size class, invariants checked at every step.

struct LiveBlock {
  char* ptr;
  size_t nbytes;
};

void expect_no_overlap(const std::vector<LiveBlock>& live, const BlockPool& pool) {
  std::vector<std::pair<char*, size_t>> spans;
  for (const LiveBlock& b : live) spans.push_back({b.ptr, pool.block_size(b.ptr)});
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    ASSERT_LE(spans[i - 1].first + spans[i - 1].second, spans[i].first) << "blocks overlap";
}

void run_random_workload(PoolConfig config, uint32_t seed) {
  FakeDevice device;
  BlockPool pool(device, config);
  std::mt19937 rng(seed);
  std::vector<LiveBlock> live;
  auto random_size = [&]() -> size_t {
    switch (rng() % 4) {
      case 0: return 1 + rng() % 4096;                           // tiny
      case 1: return 1 + rng() % (1u << 20);                     // small pool
      case 2: return (1u << 20) + 1 + rng() % (30u << 20);       // large
      default: return (rng() % 3 + 1) * (40u << 20) + rng() % 1000;  // 40..120 MiB
    }
  };
  size_t requested = 0;
  for (int step = 0; step < 3000; ++step) {
    // Deferred mode: the GPU catches up now and then; in between, frees stay pending.
    if (config.mode == AllocatorMode::Deferred && rng() % 8 == 0) device.finish_all();
    const uint32_t action = rng() % 100;
    if (action < 55 || live.empty()) {
      const size_t n = random_size();
      char* p = as_bytes(pool.allocate(n));
      ASSERT_NE(p, nullptr);
      ASSERT_GE(pool.block_size(p), n);
      if (config.mode != AllocatorMode::Direct)
        ASSERT_EQ(pool.block_size(p) % memory::kRoundBytes, 0u);
      else
        ASSERT_EQ(pool.block_size(p), n) << "direct mode allocates exact sizes";
      live.push_back({p, n});
      requested += n;
    } else if (action < 97) {
      const size_t i = rng() % live.size();
      pool.deallocate(live[i].ptr);
      requested -= live[i].nbytes;
      live[i] = live.back();
      live.pop_back();
    } else {
      pool.empty_cache();
    }
    ASSERT_EQ(pool.check_invariants(), "") << "after step " << step;
    const MemoryStats s = pool.stats();
    ASSERT_EQ(s.requested_bytes, requested);
    ASSERT_EQ(s.active_blocks, live.size());
    ASSERT_LE(s.allocated_bytes + s.pending_free_bytes, s.reserved_bytes);
    ASSERT_EQ(s.reserved_bytes, device.used()) << "the pool's view of the device is exact";
    ASSERT_GE(s.peak_allocated_bytes, s.allocated_bytes);
    ASSERT_GE(s.peak_reserved_bytes, s.reserved_bytes);
    if (step % 100 == 0) expect_no_overlap(live, pool);
  }
  const MemoryStats mid = pool.stats();
  if (config.mode == AllocatorMode::Caching)
    EXPECT_GT(mid.cache_hits, mid.num_allocs / 4) << "the cache served a good share of requests";
  else if (config.mode == AllocatorMode::Deferred)
    EXPECT_GT(mid.cache_hits, 0u) << "freed blocks are reused once their events are done";
  else
    EXPECT_EQ(mid.cache_hits, 0u) << "direct mode caches nothing";
  if (config.mode == AllocatorMode::Deferred) {
    EXPECT_GT(mid.num_pending_waits, 0u) << "the workload should also exercise the waits";
  } else {
    EXPECT_EQ(device.events_created, 0) << "only the deferred mode uses events";
    EXPECT_EQ(mid.pending_free_bytes, 0u);
  }
  for (const LiveBlock& b : live) pool.deallocate(b.ptr);
  pool.empty_cache();
  const MemoryStats end = pool.stats();
  EXPECT_EQ(end.allocated_bytes, 0u);
  EXPECT_EQ(end.reserved_bytes, 0u);
  EXPECT_EQ(end.segments, 0u);
  EXPECT_EQ(end.pending_free_bytes, 0u);
  EXPECT_EQ(device.live_segments(), 0u) << "every segment went back to the device";
  EXPECT_EQ(end.num_device_allocs, end.num_device_frees);
}

TEST(CachingAllocator, RandomWorkloadKeepsTheInvariants) {
  run_random_workload({}, 1);
  run_random_workload({AllocatorMode::Caching, 48 * kMiB}, 2);  // oversize paths too
  run_random_workload({AllocatorMode::Direct}, 3);
  run_random_workload({AllocatorMode::Deferred}, 4);
  run_random_workload({AllocatorMode::Deferred, 48 * kMiB}, 5);
}

TEST(CachingAllocator, ConcurrentUseFromSeveralThreads) {
  for (AllocatorMode mode : {AllocatorMode::Caching, AllocatorMode::Deferred}) {
    FakeDevice device;
    BlockPool pool(device, {mode});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&pool, t] {
        std::mt19937 rng(100 + t);
        std::vector<void*> mine;
        for (int i = 0; i < 2000; ++i) {
          if (mine.empty() || rng() % 2) {
            mine.push_back(pool.allocate(1 + rng() % (3u << 20)));
          } else {
            pool.deallocate(mine.back());
            mine.pop_back();
          }
        }
        for (void* p : mine) pool.deallocate(p);
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_POOL_OK(pool);
    EXPECT_EQ(pool.stats().allocated_bytes, 0u);
    pool.empty_cache();
    EXPECT_EQ(device.used(), 0u);
  }
}

// ---------------------------------------------------------------------------------------------
// Pinned host buffers

// Page-locked memory and events. The "stream" finishes work only when the test says so
// (finish_all) or when the host waits on an event, so the tests decide which copies are in flight.
class FakePinned final : public memory::PinnedBackend {
 public:
  explicit FakePinned(size_t capacity = size_t{1} << 30) : capacity_(capacity) {}
  void* raw_alloc(size_t nbytes) override {
    if (used_ + nbytes > capacity_) {
      log.push_back("fail " + std::to_string(nbytes));
      return nullptr;
    }
    const uintptr_t address = next_;
    next_ += nbytes;
    sizes_[address] = nbytes;
    used_ += nbytes;
    log.push_back("alloc " + std::to_string(nbytes));
    return reinterpret_cast<void*>(address);
  }
  void raw_free(void* ptr) override {
    auto it = sizes_.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == sizes_.end()) {
      ADD_FAILURE() << "raw_free of an unknown pinned pointer";
      return;
    }
    used_ -= it->second;
    log.push_back("free " + std::to_string(it->second));
    sizes_.erase(it);
  }
  void* create_event() override {
    events_.push_back(std::make_unique<uint64_t>(0));
    ++live_events;
    return events_.back().get();
  }
  void record_event(void* event) override { *static_cast<uint64_t*>(event) = ++clock_; }
  bool event_done(void* event) override { return *static_cast<uint64_t*>(event) <= completed_; }
  void wait_event(void* event) override {
    log.push_back("wait");
    completed_ = std::max(completed_, *static_cast<uint64_t*>(event));
  }
  void destroy_event(void*) override { --live_events; }
  std::string last_failure() const override { return "fake_host_alloc: no room"; }

  void finish_all() { completed_ = clock_; }
  size_t used() const { return used_; }
  std::vector<std::string> log;
  int live_events = 0;

 private:
  size_t capacity_, used_ = 0;
  uintptr_t next_ = uintptr_t{1} << 36;
  std::map<uintptr_t, size_t> sizes_;
  std::vector<std::unique_ptr<uint64_t>> events_;
  uint64_t clock_ = 0, completed_ = 0;
};

TEST(PinnedCache, RoundsToPowersOfTwoAndReusesFreeBuffers) {
  FakePinned backend;
  PinnedPool pool(backend);
  void* a = pool.allocate(5000);
  EXPECT_EQ(backend.log, std::vector<std::string>{"alloc 8192"});
  void* tiny = pool.allocate(1);
  EXPECT_EQ(backend.log.back(), "alloc 4096") << "at least one page";
  pool.deallocate(a);
  void* b = pool.allocate(6000);
  EXPECT_EQ(b, a);
  EXPECT_EQ(backend.log.size(), 2u);
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.cache_hits, 1u);
  EXPECT_EQ(s.num_device_allocs, 2u);
  EXPECT_EQ(s.allocated_bytes, 8192u + 4096u);
  EXPECT_EQ(s.requested_bytes, 6001u);
  EXPECT_EQ(s.reserved_bytes, 8192u + 4096u);
  EXPECT_EQ(pool.allocate(0), nullptr);
  pool.deallocate(b);
  pool.deallocate(tiny);
}

TEST(PinnedCache, ABufferWithACopyInFlightIsNotReused) {
  FakePinned backend;
  PinnedPool pool(backend);
  void* a = pool.allocate(4096);
  EXPECT_TRUE(pool.record_use(a));  // an async copy reads a
  pool.deallocate(a);
  void* b = pool.allocate(4096);
  EXPECT_NE(b, a) << "a's copy has not finished: reusing a would let the host overwrite it";
  EXPECT_EQ(pool.stats().num_device_allocs, 2u);
  EXPECT_TRUE(std::find(backend.log.begin(), backend.log.end(), "wait") == backend.log.end())
      << "skipping a busy buffer never blocks the host";

  backend.finish_all();  // the stream caught up
  pool.deallocate(b);
  void* c = pool.allocate(4096);
  EXPECT_EQ(c, a) << "oldest free buffer first, now that its copy is done";
  void* d = pool.allocate(4096);
  EXPECT_EQ(d, b);
  EXPECT_EQ(pool.stats().num_device_allocs, 2u);
  pool.deallocate(c);
  pool.deallocate(d);
}

TEST(PinnedCache, RecordUseFindsTheBufferFromAnInteriorPointer) {
  FakePinned backend;
  PinnedPool pool(backend);
  char* a = static_cast<char*>(pool.allocate(10000));  // 16 KiB buffer
  EXPECT_TRUE(pool.contains(a + 9999));
  EXPECT_TRUE(pool.contains(a + 16383)) << "the rounded-up tail is the same buffer";
  EXPECT_FALSE(pool.contains(a + 16384));
  EXPECT_FALSE(pool.contains(a - 1));
  int local = 0;
  EXPECT_FALSE(pool.contains(&local));
  EXPECT_FALSE(pool.record_use(&local));
  EXPECT_TRUE(pool.record_use(a + 5000));
  pool.deallocate(a);
  EXPECT_FALSE(pool.contains(a)) << "a free buffer belongs to nobody";
  EXPECT_FALSE(pool.record_use(a));
  void* b = pool.allocate(10000);
  EXPECT_NE(b, static_cast<void*>(a)) << "the interior record protected the whole buffer";
  pool.deallocate(b);
}

TEST(PinnedCache, WaitReadyBlocksOnlyWhenACopyIsPending) {
  FakePinned backend;
  PinnedPool pool(backend);
  char* a = static_cast<char*>(pool.allocate(4096));
  pool.wait_ready(a);
  EXPECT_TRUE(backend.log == std::vector<std::string>{"alloc 4096"}) << "nothing pending: no wait";
  pool.record_use(a);
  pool.record_use(a);  // two copies, one event: the later record covers both
  EXPECT_EQ(backend.live_events, 1);
  pool.wait_ready(a + 100);
  EXPECT_EQ(backend.log.back(), "wait");
  pool.wait_ready(a);
  EXPECT_EQ(std::count(backend.log.begin(), backend.log.end(), "wait"), 1);
  // Done now, so after a free the buffer is reused at once.
  pool.deallocate(a);
  EXPECT_EQ(pool.allocate(4096), static_cast<void*>(a));
  pool.deallocate(a);
}

TEST(PinnedCache, EmptyCacheWaitsForPendingCopiesBeforeFreeing) {
  FakePinned backend;
  PinnedPool pool(backend);
  void* busy = pool.allocate(4096);
  void* idle = pool.allocate(8192);
  void* kept = pool.allocate(4096);
  pool.record_use(busy);
  pool.deallocate(busy);
  pool.deallocate(idle);
  backend.log.clear();
  pool.empty_cache();
  ASSERT_EQ(backend.log.size(), 3u);
  EXPECT_EQ(backend.log[0], "wait") << "the busy buffer's copy must end before it is unpinned";
  EXPECT_EQ(std::count(backend.log.begin(), backend.log.end(), "free 4096"), 1);
  EXPECT_EQ(std::count(backend.log.begin(), backend.log.end(), "free 8192"), 1);
  EXPECT_EQ(backend.live_events, 0);
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.reserved_bytes, 4096u);
  EXPECT_EQ(s.num_device_frees, 2u);
  EXPECT_EQ(backend.used(), 4096u);
  pool.deallocate(kept);
}

TEST(PinnedCache, OutOfPinnedMemoryGivesBackTheCacheThenFailsClearly) {
  FakePinned backend(16 * kKiB);
  PinnedPool pool(backend);
  void* held = pool.allocate(8192);
  void* cached = pool.allocate(4096);
  pool.deallocate(cached);
  void* b = pool.allocate(8192);  // 8 + 4 + 8 > 16 KiB: retried after giving back the 4 KiB
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(backend.log, (std::vector<std::string>{"alloc 8192", "alloc 4096", "fail 8192",
                                                   "free 4096", "alloc 8192"}));
  EXPECT_EQ(pool.stats().num_oom_retries, 1u);
  testing::expect_error([&] { pool.allocate(10000); },
                        {"out of pinned host memory", "tried to pin 10000 bytes",
                         "16384 bytes asked of cudaHostAlloc: fake_host_alloc: no room",
                         "16384 pinned bytes in use"});
  EXPECT_EQ(pool.stats().num_ooms, 1u);
  pool.deallocate(held);
  pool.deallocate(b);
  EXPECT_NE(error_of([&] { pool.deallocate(b); }).find("double free"), std::string::npos);
}

TEST(PinnedCache, StatsAndPeaks) {
  FakePinned backend;
  PinnedPool pool(backend);
  void* a = pool.allocate(100000);  // 128 KiB
  void* b = pool.allocate(4096);
  pool.deallocate(a);
  MemoryStats s = pool.stats();
  EXPECT_EQ(s.allocated_bytes, 4096u);
  EXPECT_EQ(s.peak_allocated_bytes, 128 * kKiB + 4096);
  EXPECT_EQ(s.reserved_bytes, 128 * kKiB + 4096);
  EXPECT_EQ(s.num_allocs, 2u);
  EXPECT_EQ(s.num_frees, 1u);
  EXPECT_EQ(s.active_blocks, 1u);
  EXPECT_EQ(s.segments, 2u);
  pool.reset_peak_stats();
  EXPECT_EQ(pool.stats().peak_allocated_bytes, 4096u);
  pool.deallocate(b);
}

}  // namespace
}  // namespace ember
