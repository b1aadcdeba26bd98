// The CPU allocator's cache of large host blocks (tensor/cpu_block_cache.h, tensor/memory.h):
// reuse on exact and near sizes, the limit, empty(), the retry after a failed allocation, the
// EMBER_CPU_ALLOCATOR switch; and that the convolutions' uninitialised column buffers
// (kernels/cpu/scratch.h) give the same bits whatever the reused memory held before.
// Run: ember_tests --gtest_filter='CpuBlockCache*:CpuAllocator*'.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

#include "ops/ops.h"
#include "tensor/cpu_block_cache.h"
#include "tensor/error.h"
#include "tensor/memory.h"
#include "tensor/random.h"
#include "tensor/storage.h"

namespace ember {
namespace {

// A backend that hands out distinct fake addresses and counts calls; no memory behind them.
struct FakeBackend {
  uintptr_t next = 0x1000;
  int allocs = 0, releases = 0;
  int fail_next = 0;  // this many allocations fail
  std::set<void*> outstanding;
  CpuBlockCache::Backend backend() {
    return {.allocate =
                [this](size_t) -> void* {
                  if (fail_next > 0) {
                    --fail_next;
                    return nullptr;
                  }
                  ++allocs;
                  void* p = reinterpret_cast<void*>(next);
                  next += 0x1000;
                  outstanding.insert(p);
                  return p;
                },
            .release =
                [this](void* p) {
                  ++releases;
                  ASSERT_EQ(outstanding.erase(p), 1u) << "released a block twice or never made";
                }};
  }
};

TEST(CpuBlockCache, ReusesAFreedBlockOfTheSameSize) {
  FakeBackend fake;
  CpuBlockCache cache(fake.backend(), 1000);
  void* a = cache.allocate(100);
  cache.deallocate(a);
  EXPECT_EQ(cache.stats().cached_bytes, 100u);
  EXPECT_EQ(cache.allocate(100), a);
  EXPECT_EQ(fake.allocs, 1);
  const CpuCacheStats s = cache.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.live_bytes, 100u);
  EXPECT_EQ(s.cached_bytes, 0u);
  cache.deallocate(a);
}

TEST(CpuBlockCache, NearSizesUpToAnEighthLargerAndTheSmallestFitting) {
  FakeBackend fake;
  CpuBlockCache cache(fake.backend(), 10000);
  void* b112 = cache.allocate(112);
  void* b200 = cache.allocate(200);
  void* b90 = cache.allocate(90);
  cache.deallocate(b200);
  cache.deallocate(b112);
  cache.deallocate(b90);
  EXPECT_EQ(cache.allocate(100), b112);  // 112 <= 100 + 100/8; 90 is too small
  EXPECT_EQ(cache.stats().live_bytes, 112u);
  void* fresh = cache.allocate(170);  // 200 > 170 + 170/8 = 191: a new block
  EXPECT_NE(fresh, b200);
  EXPECT_EQ(fake.allocs, 4);
  EXPECT_EQ(cache.allocate(180), b200);  // 200 <= 180 + 22
  cache.deallocate(b112);
  cache.deallocate(fresh);
  cache.deallocate(b200);
}

TEST(CpuBlockCache, GivesBackWhatExceedsTheLimit) {
  FakeBackend fake;
  CpuBlockCache cache(fake.backend(), 250);
  void* a = cache.allocate(100);
  void* b = cache.allocate(100);
  void* c = cache.allocate(100);
  cache.deallocate(a);
  cache.deallocate(b);
  cache.deallocate(c);  // 300 > 250: released
  EXPECT_EQ(fake.releases, 1);
  EXPECT_EQ(cache.stats().cached_bytes, 200u);
  EXPECT_EQ(cache.stats().released, 1u);
  cache.set_limit(150);  // one more goes
  EXPECT_EQ(fake.releases, 2);
  EXPECT_EQ(cache.stats().cached_bytes, 100u);
  cache.empty();
  EXPECT_EQ(fake.releases, 3);
  EXPECT_EQ(cache.stats().cached_blocks, 0u);
  EXPECT_TRUE(fake.outstanding.empty());
}

TEST(CpuBlockCache, ZeroLimitCachesNothing) {
  FakeBackend fake;
  CpuBlockCache cache(fake.backend(), 0);
  cache.deallocate(cache.allocate(64));
  EXPECT_EQ(fake.releases, 1);
  EXPECT_EQ(cache.stats().cached_bytes, 0u);
}

TEST(CpuBlockCache, DestructorGivesTheCachedBlocksBack) {
  FakeBackend fake;
  {
    CpuBlockCache cache(fake.backend(), 1000);
    cache.deallocate(cache.allocate(10));
    cache.deallocate(cache.allocate(500));
  }
  EXPECT_EQ(fake.releases, 2);
  EXPECT_TRUE(fake.outstanding.empty());
}

TEST(CpuBlockCache, AFailedAllocationEmptiesTheCacheAndRetries) {
  FakeBackend fake;
  CpuBlockCache cache(fake.backend(), 1000);
  cache.deallocate(cache.allocate(50));
  fake.fail_next = 1;
  void* p = cache.allocate(400);  // no cached block fits; the first try fails
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(fake.releases, 1);  // the cached 50 went back before the retry
  EXPECT_EQ(cache.stats().oom_retries, 1u);
  fake.fail_next = 2;
  EXPECT_EQ(cache.allocate(400), nullptr);  // fails twice: out of memory
  cache.deallocate(p);
}

TEST(CpuBlockCache, FreeingAForeignBlockIsAnError) {
  FakeBackend fake;
  CpuBlockCache cache(fake.backend(), 1000);
  int x = 0;
  EXPECT_THROW(cache.deallocate(&x), Error);
}

TEST(CpuAllocator, EnvironmentSwitch) {
  EXPECT_FALSE(cpu_allocator_direct_from(nullptr));
  EXPECT_FALSE(cpu_allocator_direct_from(""));
  EXPECT_FALSE(cpu_allocator_direct_from("caching"));
  EXPECT_TRUE(cpu_allocator_direct_from("direct"));
  EXPECT_THROW(cpu_allocator_direct_from("Direct"), Error);
}

constexpr size_t kLarge = size_t{40} << 20;  // above glibc's 32 MiB mmap threshold

TEST(CpuAllocator, ReusesLargeBlocksAndEmptiesOnRequest) {
  Allocator& a = cpu_allocator();
  if (cpu_allocator_is_direct()) GTEST_SKIP() << "EMBER_CPU_ALLOCATOR=direct: nothing is cached";
  cpu_empty_cache();
  void* p = a.allocate(kLarge);
  std::memset(p, 1, kLarge);
  a.deallocate(p, kLarge);
  EXPECT_GE(cpu_cache_stats().cached_bytes, kLarge);
  void* q = a.allocate(kLarge);
  EXPECT_EQ(q, p);
  a.deallocate(q, kLarge);
  cpu_empty_cache();
  EXPECT_EQ(cpu_cache_stats().cached_bytes, 0u);
  // Small blocks stay with malloc: the cache never sees them.
  const CpuCacheStats before = cpu_cache_stats();
  a.deallocate(a.allocate(1 << 20), 1 << 20);
  EXPECT_EQ(cpu_cache_stats().misses, before.misses);
  EXPECT_EQ(cpu_cache_stats().hits, before.hits);
}

TEST(CpuAllocator, LimitFromTheApi) {
  if (cpu_allocator_is_direct()) GTEST_SKIP() << "EMBER_CPU_ALLOCATOR=direct: nothing is cached";
  const size_t old_limit = cpu_cache_stats().limit_bytes;
  cpu_empty_cache();
  cpu_set_cache_limit(0);
  Allocator& a = cpu_allocator();
  a.deallocate(a.allocate(kLarge), kLarge);
  EXPECT_EQ(cpu_cache_stats().cached_bytes, 0u);
  cpu_set_cache_limit(old_limit);
  EXPECT_EQ(cpu_cache_stats().limit_bytes, old_limit);
}

// Conv forward and both adjoints whose im2col column buffer (16 x 32 x 32 rows x 3*3*64
// float32 columns = 36 MiB) comes from the large-block cache: the results must not depend on
// what that memory held (NaN or a number) and must match a run with a fresh block.
struct ConvResults {
  std::vector<float> y, dx, dw;
};

// poison: fill a cached block of the column buffer's size with this value first (else the
// cache is emptied, so the buffer is a fresh block).
ConvResults run_conv(bool poisoned, float poison) {
  const int64_t N = 16, H = 32, W = 32, C = 64, K = 4;
  const size_t column_bytes = size_t{16} * H * W * 3 * 3 * C * sizeof(float);
  cpu_empty_cache();
  if (poisoned) {
    Allocator& a = cpu_allocator();
    void* p = a.allocate(column_bytes);
    float* f = static_cast<float*>(p);
    for (size_t i = 0; i < column_bytes / sizeof(float); ++i) f[i] = poison;
    a.deallocate(p, column_bytes);
  }
  RandomGenerator gen(7);
  const Tensor x = rand_uniform({N, H, W, C}, gen, {}, -1.0, 1.0);
  const Tensor w = rand_uniform({K, 3, 3, C}, gen, {}, -1.0, 1.0);
  const Tensor dy = rand_uniform({N, H, W, K}, gen, {}, -1.0, 1.0);
  const Conv2dParams params{.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};
  ConvResults r;
  r.y = conv2d(x, w, Tensor(), params).to_vector<float>();
  r.dx = conv2d_input_grad(dy, w, x.shape(), params).to_vector<float>();
  r.dw = conv2d_weight_grad(x, dy, w.shape(), params).to_vector<float>();
  return r;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(CpuAllocator, ConvColumnBuffersDoNotDependOnReusedMemory) {
  const ConvResults fresh = run_conv(false, 0.0f);
  const ConvResults nan = run_conv(true, std::numeric_limits<float>::quiet_NaN());
  const ConvResults big = run_conv(true, 1e30f);
  for (const ConvResults* r : {&nan, &big}) {
    EXPECT_TRUE(same_bits(r->y, fresh.y));
    EXPECT_TRUE(same_bits(r->dx, fresh.dx));
    EXPECT_TRUE(same_bits(r->dw, fresh.dw));
  }
  for (float v : nan.dx) ASSERT_TRUE(std::isfinite(v));
  cpu_empty_cache();
}

}  // namespace
}  // namespace ember
