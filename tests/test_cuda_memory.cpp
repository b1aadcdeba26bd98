// GPU memory and transfers through the public API: the caching allocator's stats following
// tensor lifetimes, empty_cache, out-of-memory errors, stream-ordered reuse of freed blocks, the
// deferred mode (a pool of the test's own over the real CUDA backend) holding freed blocks back,
// pin_memory round trips and non_blocking copies in both directions (pinned and pageable,
// with the copy still in flight while the host moves on). Tests that need a GPU start with
// EMBER_REQUIRE_CUDA() and skip cleanly without one; the pool logic itself is checked on the CPU
// by tests/test_caching_allocator.cpp. The MemoryApi tests run in every build.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "device_compare.h"
#include "expect_error.h"
#include "tensor/block_pool.h"
#include "tensor/memory.h"
#include "tensor/tensor.h"

#ifdef EMBER_WITH_CUDA
#include <cuda_runtime.h>

#include "tensor/cuda/cuda_context.h"
#endif

namespace ember {
namespace {

using testing::error_of;

const Device kGpu = Device::cuda(0);

// Queues enough GPU work (fills of a large scratch tensor, ~0.1 ms each on an H100) that copies
// issued after it stay in flight for a while: a buffer reused too early then shows.
void keep_the_stream_busy(const Tensor& scratch, int rounds) {
  for (int i = 0; i < rounds; ++i) fill_(scratch, static_cast<double>(i));
}

// ---------------------------------------------------------------------------------------------
// Every build

TEST(MemoryApi, StatsOfAMissingDeviceThrowAndNamesIt) {
  const int missing = cuda_device_count();  // one past the last visible device
  const std::string device = "cuda:" + std::to_string(missing);
  const std::string message = error_of([&] { cuda_memory_stats(missing); });
  EXPECT_NE(message.find(device), std::string::npos) << message;
  EXPECT_NE(message.find("cuda_memory_stats"), std::string::npos) << message;
  EXPECT_NE(error_of([&] { cuda_reset_peak_stats(missing); }).find(device), std::string::npos);
  EXPECT_NE(error_of([&] { cuda_memory_stats(-1); }), "");
}

TEST(MemoryApi, CpuOnlyBuildHasNoPinnedMemoryAndNothingToEmpty) {
  if (built_with_cuda()) GTEST_SKIP() << "checks the CPU-only build's behaviour";
  EXPECT_NE(error_of([] { cuda_memory_stats(0); }).find("no CUDA backend"), std::string::npos);
  const Tensor t = ones({3});
  EXPECT_FALSE(t.is_pinned());
  EXPECT_NE(error_of([&] { t.pin_memory(); }).find("no CUDA backend"), std::string::npos);
  EXPECT_NE(error_of([] { empty_pinned({2}); }).find("no CUDA backend"), std::string::npos);
  cuda_empty_cache();   // nothing cached: no error
  cuda_synchronize();   // nothing queued: no error
  EXPECT_EQ(pinned_memory_stats().reserved_bytes, 0u);
}

TEST(MemoryApi, NonBlockingBetweenCpuTensorsIsAPlainCopy) {
  const Tensor t = from_vector<float>({1, 2, 3}, {3});
  EXPECT_TRUE(t.to(Device::cpu(), true).same(t));
  const Tensor c = convert(t, DType::Float64, Device::cpu(), true);
  EXPECT_FALSE(c.is_pinned());
  EXPECT_EQ(c.to_vector<double>(), (std::vector<double>{1, 2, 3}));
}

// ---------------------------------------------------------------------------------------------
// Device allocator

TEST(CudaMemory, StatsFollowTensorLifetimes) {
  EMBER_REQUIRE_CUDA();
  const MemoryStats s0 = cuda_memory_stats();
  const size_t nbytes = 1000000 * sizeof(float);  // 4,000,000: rounds up to 4,000,256
  {
    const Tensor t = empty({1000000}, {.device = kGpu});
    const MemoryStats s1 = cuda_memory_stats();
    EXPECT_EQ(s1.requested_bytes - s0.requested_bytes, nbytes);
    EXPECT_GE(s1.allocated_bytes - s0.allocated_bytes, 4000256u);
    EXPECT_EQ(s1.active_blocks, s0.active_blocks + 1);
    EXPECT_EQ(s1.num_allocs, s0.num_allocs + 1);
    EXPECT_GE(s1.reserved_bytes, s1.allocated_bytes);
    EXPECT_GE(s1.peak_allocated_bytes, s1.allocated_bytes);
  }
  const MemoryStats s2 = cuda_memory_stats();
  EXPECT_EQ(s2.requested_bytes, s0.requested_bytes) << "freed when the last handle died";
  EXPECT_EQ(s2.allocated_bytes, s0.allocated_bytes);
  EXPECT_EQ(s2.num_frees, s0.num_frees + 1);
  EXPECT_GE(s2.reserved_bytes, s0.reserved_bytes) << "the block stays cached";

  // The same size again comes from the cache, without cudaMalloc.
  { const Tensor t = empty({1000000}, {.device = kGpu}); }
  const MemoryStats s3 = cuda_memory_stats();
  EXPECT_EQ(s3.cache_hits, s2.cache_hits + 1);
  EXPECT_EQ(s3.num_device_allocs, s2.num_device_allocs);

  // A view shares the storage: no new allocation, and the block lives as long as the view.
  Tensor view;
  {
    const Tensor base = zeros({1000, 1000}, {.device = kGpu});
    view = base.slice(0, 10, 20);
  }
  EXPECT_EQ(cuda_memory_stats().requested_bytes, s0.requested_bytes + nbytes);
  view = Tensor();
  EXPECT_EQ(cuda_memory_stats().requested_bytes, s0.requested_bytes);

  // Empty tensors allocate nothing.
  const Tensor none = zeros({0, 5}, {.device = kGpu});
  EXPECT_EQ(none.raw_data(), nullptr);
  EXPECT_EQ(cuda_memory_stats().num_allocs, s3.num_allocs + 1);
}

TEST(CudaMemory, PeakAndResetPeakStats) {
  EMBER_REQUIRE_CUDA();
  cuda_reset_peak_stats();
  const MemoryStats s0 = cuda_memory_stats();
  EXPECT_EQ(s0.peak_allocated_bytes, s0.allocated_bytes);
  EXPECT_EQ(s0.peak_reserved_bytes, s0.reserved_bytes);
  { const Tensor big = empty({16 << 20}, {.device = kGpu}); }  // 64 MiB, then freed
  const MemoryStats s1 = cuda_memory_stats();
  EXPECT_GE(s1.peak_allocated_bytes, s0.allocated_bytes + (size_t{64} << 20));
  EXPECT_EQ(s1.allocated_bytes, s0.allocated_bytes);
  cuda_reset_peak_stats();
  EXPECT_EQ(cuda_memory_stats().peak_allocated_bytes, s1.allocated_bytes);
}

TEST(CudaMemory, EmptyCacheGivesFreeSegmentsBack) {
  EMBER_REQUIRE_CUDA();
  cuda_empty_cache();  // so kept and big get segments of their own, not parts of a cached one
  Tensor kept = ones({1 << 20}, {.device = kGpu});                 // 4 MiB, stays alive
  { const Tensor big = empty({32 << 20}, {.device = kGpu}); }      // 128 MiB, freed
  const MemoryStats before = cuda_memory_stats();
  EXPECT_GE(before.reserved_bytes - before.allocated_bytes, size_t{128} << 20);
  cuda_empty_cache();
  const MemoryStats after = cuda_memory_stats();
  EXPECT_LE(after.reserved_bytes + (size_t{128} << 20), before.reserved_bytes);
  EXPECT_GT(after.num_device_frees, before.num_device_frees);
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes) << "blocks in use stay";
  EXPECT_EQ(kept.to_vector<float>()[12345], 1.0f) << "live tensors are untouched";
  // The allocator still works after giving everything back.
  const Tensor again = full({32 << 20}, 2.0, {.device = kGpu});
  EXPECT_EQ(again.slice(0, (32 << 20) - 3, 32 << 20).to_vector<float>(),
            (std::vector<float>{2, 2, 2}));
}

TEST(CudaMemory, OutOfMemoryNamesTheRequestAndLeavesTheAllocatorUsable) {
  EMBER_REQUIRE_CUDA();
  const MemoryStats s0 = cuda_memory_stats();
  // 2^48 floats = 1 PiB: more than any GPU has.
  const std::string message = error_of([] { empty({int64_t{1} << 48}, {.device = kGpu}); });
  for (const std::string part : {"CUDA out of memory on cuda:0", "tried to allocate 1125899906842624 bytes",
                                 "cudaMalloc(&ptr, 1125899906842624): cudaErrorMemoryAllocation",
                                 "in use and", "reserved", "free of", "block_pool.cpp:"})
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' missing from: " << message;
  const MemoryStats s1 = cuda_memory_stats();
  EXPECT_EQ(s1.num_ooms, s0.num_ooms + 1);
  EXPECT_EQ(s1.num_oom_retries, s0.num_oom_retries + 1);
  EXPECT_EQ(s1.allocated_bytes, s0.allocated_bytes);
  const Tensor after = full({1000}, 3.0, {.device = kGpu});
  EXPECT_EQ(after.to_vector<float>()[999], 3.0f) << "no stale error left behind for later launches";
}

TEST(CudaMemory, AFreedBlockIsReusedInStreamOrder) {
  EMBER_REQUIRE_CUDA();
  cuda_empty_cache();  // so a's block is the only free one of its size when it is freed
  const Tensor scratch = empty({64 << 20}, {.device = kGpu});
  const int64_t n = 4 << 20;  // 16 MiB
  Tensor a = full({n}, 1.0, {.device = kGpu});
  keep_the_stream_busy(scratch, 100);  // so the copy below is still queued when a is freed
  const Tensor c = empty({n}, {.device = kGpu});
  copy_(c, a);  // queued: reads a
  void* old = a.raw_data();
  a = Tensor();  // a's block goes back to the cache while the copy may still read it
  const Tensor b = full({n}, 2.0, {.device = kGpu});  // queued after the copy
  // Under EMBER_CUDA_ALLOCATOR=deferred a's block is held back until the copy is done, so b may
  // get another one; the values below must come out the same either way.
  if (memory::parse_allocator_mode(std::getenv("EMBER_CUDA_ALLOCATOR")) !=
      memory::AllocatorMode::Deferred) {
    EXPECT_EQ(b.raw_data(), old) << "the best fit is a's block, reused at once";
  }
  const std::vector<float> cv = c.to_vector<float>();
  const std::vector<float> bv = b.to_vector<float>();
  for (int64_t i = 0; i < n; i += 4097) {
    ASSERT_EQ(cv[i], 1.0f) << "the copy ran before the fill that reused its source, at " << i;
    ASSERT_EQ(bv[i], 2.0f) << i;
  }
}

#ifdef EMBER_WITH_CUDA
// EMBER_CUDA_ALLOCATOR=deferred, on a pool of the test's own over the CUDA backend of cuda:0 (the
// process's allocator keeps the mode it was started with). Blocks are written by copies queued
// behind ~40 ms of work; a block must not be handed out again before the copy into it is done.
TEST(CudaMemory, DeferredModeReusesABlockOnlyAfterTheWorkQueuedBeforeItsFree) {
  EMBER_REQUIRE_CUDA();
  const std::unique_ptr<memory::RawBackend> backend = memory::make_cuda_raw_backend(0);
  memory::BlockPool pool(*backend, {memory::AllocatorMode::Deferred});
  const Tensor scratch = empty({64 << 20}, {.device = kGpu});
  const size_t nbytes = 16 << 20;
  cudaStream_t stream = cuda::compute_stream();
  cudaEvent_t marker = nullptr;
  ASSERT_EQ(cudaEventCreateWithFlags(&marker, cudaEventDisableTiming), cudaSuccess);
  auto still_queued = [&] {
    const cudaError_t status = cudaEventQuery(marker);
    cudaGetLastError();  // "not ready" is an answer
    EXPECT_TRUE(status == cudaSuccess || status == cudaErrorNotReady) << cudaGetErrorName(status);
    return status == cudaErrorNotReady;
  };

  void* spare = pool.allocate(nbytes);
  void* a = pool.allocate(nbytes);
  pool.deallocate(spare);
  cuda_synchronize();  // spare's free is done: the next allocation finds it free

  // A free block (spare) and a pending one (a): the pending one must not be taken.
  keep_the_stream_busy(scratch, 400);
  ASSERT_EQ(cudaMemcpyAsync(a, scratch.raw_data(), nbytes, cudaMemcpyDeviceToDevice, stream),
            cudaSuccess);
  ASSERT_EQ(cudaEventRecord(marker, stream), cudaSuccess);
  pool.deallocate(a);
  void* b = pool.allocate(nbytes);
  const bool queued = still_queued();  // after allocate returned, so also while it ran
  ASSERT_TRUE(queued) << "the copy finished before the allocation: queue more work, or the "
                         "test proves nothing";
  EXPECT_NE(b, a) << "a was handed out while the copy into it was still queued";
  EXPECT_EQ(b, spare);
  EXPECT_EQ(pool.stats().pending_free_bytes, nbytes);

  // Nothing else free: the pool waits for a's copy rather than grow, then hands a out.
  void* c = pool.allocate(nbytes);
  EXPECT_EQ(c, a);
  EXPECT_FALSE(still_queued()) << "a was handed out before the copy into it had finished";

  // The same once more with a wait that is sure to happen: b's copy is queued behind new work.
  keep_the_stream_busy(scratch, 400);
  ASSERT_EQ(cudaMemcpyAsync(b, scratch.raw_data(), nbytes, cudaMemcpyDeviceToDevice, stream),
            cudaSuccess);
  ASSERT_EQ(cudaEventRecord(marker, stream), cudaSuccess);
  pool.deallocate(b);
  const uint64_t waits = pool.stats().num_pending_waits;
  void* d = pool.allocate(nbytes);
  EXPECT_EQ(d, b);
  EXPECT_FALSE(still_queued()) << "b was handed out before the copy into it had finished";
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.num_pending_waits, waits + 1);
  EXPECT_EQ(s.num_device_allocs, 2u) << "the pool waited instead of growing";
  EXPECT_EQ(s.pending_free_bytes, 0u);
  EXPECT_EQ(pool.check_invariants(), "");
  pool.deallocate(c);
  pool.deallocate(d);
  pool.empty_cache();
  EXPECT_EQ(pool.stats().reserved_bytes, 0u);
  EXPECT_EQ(cudaEventDestroy(marker), cudaSuccess);
}
#endif

// ---------------------------------------------------------------------------------------------
// Pinned memory and non_blocking copies

TEST(CudaMemory, PinMemoryRoundTrips) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64}) {
    const Tensor t = testing::random_tensor({37, 53}, 7, DType::Float64, -100, 100).to(dtype);
    const Tensor strided = t.permute({1, 0});  // pin_memory makes it contiguous
    for (const Tensor& src : {t, strided}) {
      const Tensor pinned = src.pin_memory();
      EXPECT_TRUE(pinned.is_pinned());
      EXPECT_FALSE(src.is_pinned());
      EXPECT_TRUE(pinned.is_contiguous());
      EXPECT_EQ(pinned.dtype(), dtype);
      EXPECT_TRUE(pinned.device().is_cpu());
      EXPECT_TRUE(pinned.pin_memory().same(pinned)) << "already pinned: the same tensor";
      EXPECT_EQ(max_abs_diff(pinned, src), 0.0);
      const Tensor gpu = pinned.to(kGpu, true);
      cuda_synchronize();
      EXPECT_EQ(max_abs_diff(gpu.to(Device::cpu()), src), 0.0) << dtype_name(dtype);
      const Tensor back = gpu.to(Device::cpu(), true);
      EXPECT_TRUE(back.is_pinned()) << "a non_blocking device->host copy lands in pinned memory";
      cuda_synchronize();
      EXPECT_EQ(max_abs_diff(back, src), 0.0) << dtype_name(dtype);
    }
  }
  const Tensor gpu = zeros({3}, {.device = kGpu});
  EXPECT_NE(error_of([&] { gpu.pin_memory(); }).find("not on the CPU"), std::string::npos);
  EXPECT_GT(pinned_memory_stats().num_allocs, 0u);
}

TEST(CudaMemory, BlockingCopiesFromPinnedAndPageableMemoryStillWork) {
  EMBER_REQUIRE_CUDA();
  const Tensor t = testing::random_tensor({1000}, 11);
  const Tensor from_pageable = t.to(kGpu);
  const Tensor from_pinned = t.pin_memory().to(kGpu);
  EXPECT_EQ(max_abs_diff(from_pageable.to(Device::cpu()), t), 0.0);
  EXPECT_EQ(max_abs_diff(from_pinned.to(Device::cpu()), t), 0.0);
  // A blocking copy into an existing pinned tensor.
  const Tensor landing = empty_pinned({1000});
  copy_(landing, from_pinned);
  EXPECT_EQ(max_abs_diff(landing, t), 0.0);
}

TEST(CudaMemory, NonBlockingCopiesFromPageableMemoryStageThroughBuffersNotReusedTooEarly) {
  EMBER_REQUIRE_CUDA();
  const Tensor scratch = empty({64 << 20}, {.device = kGpu});  // 256 MiB
  keep_the_stream_busy(scratch, 200);
  // Each copy stages its source in a pinned buffer and returns at once; the host then
  // overwrites the source. If a staging buffer were reused before its DMA ran, a later
  // value would be copied in its place.
  const int64_t n = 1 << 18;  // 1 MiB of floats
  std::vector<Tensor> on_gpu;
  Tensor host = empty({n});
  for (int i = 0; i < 16; ++i) {
    fill_(host, static_cast<double>(i));
    on_gpu.push_back(host.to(kGpu, true));
  }
  fill_(host, -1.0);
  cuda_synchronize();
  for (int i = 0; i < 16; ++i) {
    const std::vector<float> v = on_gpu[i].to_vector<float>();
    EXPECT_EQ(v.front(), static_cast<float>(i)) << "copy " << i;
    EXPECT_EQ(v.back(), static_cast<float>(i)) << "copy " << i;
    EXPECT_EQ(v[n / 2], static_cast<float>(i)) << "copy " << i;
  }
  // Non-contiguous and dtype-converting sources take the same path.
  const Tensor t = testing::random_tensor({64, 48}, 5, DType::Float64);
  const Tensor moved = t.permute({1, 0}).to(kGpu, true);
  EXPECT_EQ(max_abs_diff(moved.to(Device::cpu()), t.permute({1, 0})), 0.0);
}

TEST(CudaMemory, NonBlockingCopiesFromPinnedMemoryKeepTheBufferUntilDone) {
  EMBER_REQUIRE_CUDA();
  const Tensor scratch = empty({64 << 20}, {.device = kGpu});
  keep_the_stream_busy(scratch, 200);
  const int64_t n = 1 << 18;
  std::vector<Tensor> on_gpu;
  for (int i = 0; i < 8; ++i) {
    // A fresh pinned tensor each time, dropped right after its copy is queued: the pinned cache
    // must not hand the same buffer to the next iteration (whose fill would overwrite it) until
    // the copy has run.
    Tensor pinned = empty_pinned({n});
    fill_(pinned, static_cast<double>(i));
    on_gpu.push_back(pinned.to(kGpu, true));
  }
  // Writing into a pinned tensor whose copy is still queued waits for that copy first.
  Tensor reused = full({n}, 100.0).pin_memory();
  const Tensor copied = reused.to(kGpu, true);
  fill_(reused, -1.0);
  cuda_synchronize();
  for (int i = 0; i < 8; ++i) {
    const std::vector<float> v = on_gpu[i].to_vector<float>();
    EXPECT_EQ(v.front(), static_cast<float>(i)) << "copy " << i;
    EXPECT_EQ(v.back(), static_cast<float>(i)) << "copy " << i;
  }
  EXPECT_EQ(copied.to_vector<float>()[n - 1], 100.0f) << "the host write waited for the copy";
}

TEST(CudaMemory, NonBlockingDeviceToHostIsReadableAfterSynchronize) {
  EMBER_REQUIRE_CUDA();
  const Tensor t = testing::random_tensor({300, 301}, 9, DType::Float32);
  const Tensor gpu = t.to(kGpu);
  const Tensor scratch = empty({64 << 20}, {.device = kGpu});
  keep_the_stream_busy(scratch, 50);
  const Tensor host = gpu.to(Device::cpu(), true);
  EXPECT_TRUE(host.is_pinned());
  cuda_synchronize();
  const float* p = host.data<float>();  // raw access: valid only after cuda_synchronize()
  const std::vector<float> expected = t.to_vector<float>();
  for (size_t i = 0; i < expected.size(); i += 977) ASSERT_EQ(p[i], expected[i]) << i;

  // Host-side reads through ember (to_vector, copies) wait for a pending copy by themselves.
  keep_the_stream_busy(scratch, 50);
  const Tensor strided = gpu.permute({1, 0}).to(Device::cpu(), true);
  EXPECT_EQ(max_abs_diff(strided, t.permute({1, 0})), 0.0);

  // Into a pageable destination a non_blocking copy is synchronous (the host reads it at once).
  const Tensor pageable = empty({300, 301});
  copy_(pageable, gpu, true);
  EXPECT_FALSE(pageable.is_pinned());
  EXPECT_EQ(max_abs_diff(pageable, t), 0.0);
}

TEST(CudaMemory, PinnedCacheReusesBuffersAndEmptyCacheReleasesThem) {
  EMBER_REQUIRE_CUDA();
  cuda_synchronize();
  { const Tensor a = empty_pinned({12345}); }
  const MemoryStats s0 = pinned_memory_stats();
  { const Tensor b = empty_pinned({12000}); }  // same power-of-two class, nothing in flight
  const MemoryStats s1 = pinned_memory_stats();
  EXPECT_EQ(s1.cache_hits, s0.cache_hits + 1);
  EXPECT_EQ(s1.num_device_allocs, s0.num_device_allocs);
  cuda_empty_cache();
  const MemoryStats s2 = pinned_memory_stats();
  EXPECT_EQ(s2.reserved_bytes, s2.allocated_bytes) << "only buffers in use stay pinned";
  EXPECT_GT(s2.num_device_frees, s1.num_device_frees);
}

}  // namespace
}  // namespace ember
