// The CUDA side of ember's memory: the raw backends (cudaMalloc/cudaFree, cudaHostAlloc and
// events on the compute stream) under the pool logic of tensor/pool_set.h (the main pool and
// the CUDA graphs' private pools, each a tensor/block_pool.h) and tensor/pinned_pool.h, the
// Allocator objects Storage uses, and the tensor/memory.h API.
// Design: docs/memory.md. Tested by tests/test_cuda_memory.cpp (GPU) and, for the pool logic,
// tests/test_caching_allocator.cpp (CPU).
#include <cstdlib>
#include <mutex>
#include <string>

#include "tensor/block_pool.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"
#include "tensor/cuda_hooks.h"
#include "tensor/graph_capture.h"
#include "tensor/memory.h"
#include "tensor/pinned_pool.h"
#include "tensor/pool_set.h"
#include "tensor/storage.h"

namespace ember {

namespace {

constexpr int kMaxDevices = 64;

// "cudaMalloc(&ptr, 4096): cudaErrorMemoryAllocation (out of memory)", for out-of-memory messages.
std::string describe_failure(const char* call_head, size_t nbytes, cudaError_t status) {
  return detail::concat(call_head, nbytes, "): ", cudaGetErrorName(status), " (",
                        cudaGetErrorString(status), ")");
}

// The event calls both backends share (device blocks and pinned host blocks are both held back
// by events on a compute stream).
bool event_completed(void* event) {
  const cudaError_t status = cudaEventQuery(static_cast<cudaEvent_t>(event));
  if (status == cudaSuccess) return true;
  if (status == cudaErrorNotReady) {
    cudaGetLastError();  // "not ready" is an answer, not an error: do not leave it behind
    return false;
  }
  cuda::throw_cuda_error(status, "cudaEventQuery(event)", __FILE__, __LINE__);
}

void wait_for_event(void* event) {
  EMBER_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event)));
}

// Runs in destructors: never throws.
void destroy_event_quietly(void* event) {
  if (cudaEventDestroy(static_cast<cudaEvent_t>(event)) != cudaSuccess) cudaGetLastError();
}

// cudaMalloc/cudaFree on one device. Out of memory is reported as nullptr so the pool can empty
// its cache and retry; every other failure throws with the call, file:line and CUDA's message.
class CudaRawBackend final : public memory::RawBackend {
 public:
  explicit CudaRawBackend(int index) : index_(index) {}

  void* raw_alloc(size_t nbytes) override {
    cuda::DeviceGuard guard(index_);  // the caller's current device is restored on return
    void* ptr = nullptr;
    const cudaError_t status = capturing_malloc(&ptr, nbytes);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clear it, or the next launch check would report it
      last_failure_ = describe_failure("cudaMalloc(&ptr, ", nbytes, status);
      return nullptr;
    }
    if (status != cudaSuccess) cuda::throw_cuda_error(status, "cudaMalloc(&ptr, nbytes)", __FILE__, __LINE__);
    return ptr;
  }

  // cudaMalloc, which is a prohibited call while this thread captures in the thread-local mode
  // (it may synchronise the device): a capture's private pool grows in the relaxed mode, where it
  // is allowed, and the thread's mode is restored at once. (cudaFree and the stream
  // synchronisation before it never run during a capture: tensor/pool_set.h holds a routed
  // pool's segments, and the main pool refuses a capturing thread.)
  static cudaError_t capturing_malloc(void** ptr, size_t nbytes) {
    if (!graph::capturing()) return cudaMalloc(ptr, nbytes);
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    EMBER_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
    const cudaError_t status = cudaMalloc(ptr, nbytes);
    EMBER_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));  // back to the thread's mode
    return status;
  }

  // Runs in Storage destructors, possibly while an earlier CUDA error unwinds the stack: a
  // failure here must not throw (that would terminate and hide the first error). A sticky
  // error is reported again by the next checked call.
  void raw_free(void* ptr, size_t) override {
    int previous = -1;
    if (cudaGetDevice(&previous) != cudaSuccess) previous = -1;
    if (previous != index_) cudaSetDevice(index_);
    if (cudaFree(ptr) != cudaSuccess) cudaGetLastError();
    if (previous >= 0 && previous != index_ && cudaSetDevice(previous) != cudaSuccess)
      cudaGetLastError();
  }
  void synchronize() override {
    try {
      if (cudaStreamSynchronize(cuda::compute_stream(index_)) != cudaSuccess) cudaGetLastError();
    } catch (const Error&) {
      // compute_stream() could not create the stream: then nothing was ever queued on it.
    }
  }

  std::string device_name() const override { return "cuda:" + std::to_string(index_); }
  std::string last_failure() const override { return last_failure_; }
  void memory_info(size_t* free_bytes, size_t* total_bytes) override {
    *free_bytes = *total_bytes = 0;
    try {
      cuda::DeviceGuard guard(index_);
      if (cudaMemGetInfo(free_bytes, total_bytes) != cudaSuccess) {
        cudaGetLastError();
        *free_bytes = *total_bytes = 0;
      }
    } catch (const Error&) {
      // The device could not be made current: report no memory information.
    }
  }

  // Events for EMBER_CUDA_ALLOCATOR=deferred (never called in the other modes): created on this
  // backend's device, recorded on its compute stream.
  void* create_event() override {
    cuda::DeviceGuard guard(index_);
    cudaEvent_t event = nullptr;
    EMBER_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    return event;
  }
  void record_event(void* event) override {
    cuda::DeviceGuard guard(index_);
    EMBER_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event), cuda::compute_stream(index_)));
  }
  bool event_done(void* event) override { return event_completed(event); }
  void wait_event(void* event) override { wait_for_event(event); }
  void destroy_event(void* event) override { destroy_event_quietly(event); }

 private:
  int index_;
  std::string last_failure_;  // written under the pool's lock
};

class CudaDeviceAllocator final : public Allocator {
 public:
  explicit CudaDeviceAllocator(int index)
      : backend_(index),
        pools_(backend_, {memory::parse_allocator_mode(std::getenv("EMBER_CUDA_ALLOCATOR")),
                          memory::parse_max_split_size(std::getenv("EMBER_CUDA_MAX_SPLIT_MB"))}) {}
  void* allocate(size_t nbytes) override { return pools_.allocate(nbytes); }
  void deallocate(void* ptr, size_t) override { pools_.deallocate(ptr); }
  memory::PoolSet& pools() { return pools_; }

 private:
  CudaRawBackend backend_;
  memory::PoolSet pools_;
};

// The allocators are created on first use and never destroyed: tensors held in statics may be
// freed during exit, after any allocator object would have been.
std::mutex allocators_mutex;
CudaDeviceAllocator* device_allocators[kMaxDevices] = {};

CudaDeviceAllocator* existing_device_allocator(int index) {
  std::lock_guard<std::mutex> lock(allocators_mutex);
  return device_allocators[index];
}

void check_device_index(int index, const char* what) {
  EMBER_CHECK(index >= 0 && index < cuda_device_count() && index < kMaxDevices, what,
              ": no device cuda:", index, " (", cuda_device_count(), " CUDA device(s) visible)");
}

CudaDeviceAllocator& device_allocator(int index) {
  std::lock_guard<std::mutex> lock(allocators_mutex);
  if (!device_allocators[index]) device_allocators[index] = new CudaDeviceAllocator(index);
  return *device_allocators[index];
}

// Page-locked host memory and events on the compute stream.
class CudaPinnedBackend final : public memory::PinnedBackend {
 public:
  void* raw_alloc(size_t nbytes) override {
    void* ptr = nullptr;
    // Portable: pinned for every device, not only the current one.
    const cudaError_t status = cudaHostAlloc(&ptr, nbytes, cudaHostAllocPortable);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      last_failure_ = describe_failure("cudaHostAlloc(&ptr, ", nbytes, status);
      return nullptr;
    }
    if (status != cudaSuccess)
      cuda::throw_cuda_error(status, "cudaHostAlloc(&ptr, nbytes, cudaHostAllocPortable)", __FILE__, __LINE__);
    return ptr;
  }
  void raw_free(void* ptr) override {
    if (cudaFreeHost(ptr) != cudaSuccess) cudaGetLastError();
  }
  void* create_event() override {
    cudaEvent_t event = nullptr;
    EMBER_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    return event;
  }
  void record_event(void* event) override {
    EMBER_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event), cuda::compute_stream()));
  }
  bool event_done(void* event) override { return event_completed(event); }
  void wait_event(void* event) override { wait_for_event(event); }
  void destroy_event(void* event) override { destroy_event_quietly(event); }
  std::string last_failure() const override { return last_failure_; }

 private:
  std::string last_failure_;  // written under the pool's lock
};

class CudaPinnedAllocator final : public Allocator {
 public:
  CudaPinnedAllocator() : pool_(backend_) {}
  void* allocate(size_t nbytes) override { return pool_.allocate(nbytes); }
  void deallocate(void* ptr, size_t) override { pool_.deallocate(ptr); }
  bool is_pinned() const override { return true; }
  memory::PinnedPool& pool() { return pool_; }

 private:
  CudaPinnedBackend backend_;
  memory::PinnedPool pool_;
};

std::mutex pinned_mutex;
CudaPinnedAllocator* pinned = nullptr;

CudaPinnedAllocator* existing_pinned_allocator() {
  std::lock_guard<std::mutex> lock(pinned_mutex);
  return pinned;
}

CudaPinnedAllocator& pinned_allocator_instance() {
  std::lock_guard<std::mutex> lock(pinned_mutex);
  if (!pinned) pinned = new CudaPinnedAllocator;
  return *pinned;
}

}  // namespace

std::unique_ptr<memory::RawBackend> memory::make_cuda_raw_backend(int device) {
  check_device_index(device, "make_cuda_raw_backend");
  return std::make_unique<CudaRawBackend>(device);
}

Allocator& allocator_for(Device device) {
  if (device.is_cpu()) return cpu_allocator();
  EMBER_CHECK(device.index >= 0 && device.index < cuda_device_count() && device.index < kMaxDevices,
              "cannot allocate on ", device.str(), ": ", cuda_device_count(),
              " CUDA device(s) visible");
  return device_allocator(device.index);
}

Allocator& pinned_allocator() { return pinned_allocator_instance(); }

namespace cuda {
// For copy_bytes (tensor/cuda/cuda_runtime.cpp): the pinned pool, created on first use.
memory::PinnedPool& pinned_pool() { return pinned_allocator_instance().pool(); }
}  // namespace cuda

namespace cuda_hooks {
void wait_for_pinned(const void* ptr) {
  if (CudaPinnedAllocator* allocator = existing_pinned_allocator()) allocator->pool().wait_ready(ptr);
}
}  // namespace cuda_hooks

// ---------------------------------------------------------------------------------------------
// tensor/memory.h

MemoryStats cuda_memory_stats(int device) {
  check_device_index(device, "cuda_memory_stats");
  return device_allocator(device).pools().stats();
}

void cuda_reset_peak_stats(int device) {
  check_device_index(device, "cuda_reset_peak_stats");
  device_allocator(device).pools().reset_peak_stats();
}

void cuda_empty_cache() {
  for (int index = 0; index < kMaxDevices; ++index)
    if (CudaDeviceAllocator* allocator = existing_device_allocator(index)) allocator->pools().empty_cache();
  if (CudaPinnedAllocator* allocator = existing_pinned_allocator()) allocator->pool().empty_cache();
}

uint64_t cuda_graph_pool_open(int device) {
  check_device_index(device, "cuda_graph_pool_open");
  return device_allocator(device).pools().open_private_pool();
}

void cuda_graph_pool_route(int device, uint64_t id) {
  check_device_index(device, "cuda_graph_pool_route");
  device_allocator(device).pools().route_this_thread(id);
}

void cuda_graph_pool_release(int device, uint64_t id) {
  check_device_index(device, "cuda_graph_pool_release");
  device_allocator(device).pools().release_private_pool(id);
}

size_t cuda_graph_pool_reserved_bytes(int device, uint64_t id) {
  check_device_index(device, "cuda_graph_pool_reserved_bytes");
  return device_allocator(device).pools().private_pool_reserved_bytes(id);
}

MemoryStats pinned_memory_stats() {
  CudaPinnedAllocator* allocator = existing_pinned_allocator();
  return allocator ? allocator->pool().stats() : MemoryStats{};
}

void cuda_synchronize() {
  if (cuda_device_count() == 0) return;  // nothing can have been queued
  cuda::synchronize();
}

}  // namespace ember
