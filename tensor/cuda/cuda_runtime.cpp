// CUDA runtime glue: device discovery, the compute stream, error text and byte copies between
// host and device (blocking, or asynchronous through pinned memory: docs/memory.md). The
// allocators are in tensor/cuda/cuda_allocator.cpp. Every synchronisation here also reports a
// deferred device error (tensor/cuda/device_errors.h), at no extra wait.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"
#include "tensor/pinned_pool.h"
#include "tensor/storage.h"

namespace ember {

namespace cuda {

void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  detail::throw_error(file, line, std::string("CUDA error in ") + call + ": " +
                                      cudaGetErrorName(status) + " (" +
                                      cudaGetErrorString(status) + ")");
}

bool sync_mode() {
  static const bool on = [] {
    const char* v = std::getenv("EMBER_CUDA_SYNC");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return on;
}

namespace {
constexpr int kMaxStreamDevices = 64;
}  // namespace

// Every kernel launch asks for its stream, so the common case is one atomic load; the mutex
// only serialises the creation of a device's stream.
cudaStream_t compute_stream(int device) {
  static std::mutex mutex;
  static std::atomic<cudaStream_t> streams[kMaxStreamDevices] = {};
  EMBER_CHECK(device >= 0 && device < kMaxStreamDevices, "compute_stream: bad device index ",
              device);
  if (cudaStream_t s = streams[device].load(std::memory_order_acquire)) return s;
  std::lock_guard<std::mutex> lock(mutex);
  if (!streams[device].load(std::memory_order_relaxed)) {
    // A stream belongs to the device current when it is created.
    DeviceGuard guard(device);
    cudaStream_t s = nullptr;
    EMBER_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    streams[device].store(s, std::memory_order_release);
  }
  return streams[device].load(std::memory_order_relaxed);
}

cudaStream_t compute_stream() {
  int device = 0;
  EMBER_CUDA_CHECK(cudaGetDevice(&device));
  return compute_stream(device);
}

DeviceGuard::DeviceGuard(int device) {
  int current = 0;
  EMBER_CUDA_CHECK(cudaGetDevice(&current));
  if (current == device) return;
  EMBER_CUDA_CHECK(cudaSetDevice(device));
  previous_ = current;
}

// Runs during unwinding too: never throws; a failure stays for the next checked call.
DeviceGuard::~DeviceGuard() {
  if (previous_ >= 0 && cudaSetDevice(previous_) != cudaSuccess) cudaGetLastError();
}

void synchronize() {
  EMBER_CUDA_CHECK(cudaStreamSynchronize(compute_stream()));
  check_device_errors();
}

}  // namespace cuda

bool built_with_cuda() { return true; }

int cuda_device_count() {
  static const int count = [] {
    int n = 0;
    // No driver or no GPU: report zero devices rather than failing, so CPU work still runs.
    if (cudaGetDeviceCount(&n) != cudaSuccess) { cudaGetLastError(); return 0; }
    return n;
  }();
  return count;
}

namespace cuda {
memory::PinnedPool& pinned_pool();  // tensor/cuda/cuda_allocator.cpp
}  // namespace cuda

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes,
                bool non_blocking) {
  if (nbytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) { std::memcpy(dst, src, nbytes); return; }
  // The copy goes on the compute stream of the GPU it lands on (or comes from, for a copy to
  // the host), with that GPU current; the caller's current device is restored on return.
  const int device = dst_device.is_cpu() ? src_device.index : dst_device.index;
  cuda::DeviceGuard guard(device);
  cudaStream_t stream = cuda::compute_stream(device);
  if (!dst_device.is_cpu() && !src_device.is_cpu()) {
    // Between two GPUs the source's own stream may still be writing the bytes: wait for it.
    if (src_device.index != dst_device.index)
      EMBER_CUDA_CHECK(cudaStreamSynchronize(cuda::compute_stream(src_device.index)));
    // Device to device: queued like any kernel, nothing for the host to wait for.
    EMBER_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, stream));
    return;
  }
  memory::PinnedPool& pinned = cuda::pinned_pool();
  if (non_blocking && dst_device.is_cpu() && pinned.contains(dst)) {
    // Device to pinned host memory: queued; the host must synchronize before it reads (host-side
    // copies wait through wait_for_pinned), and the buffer is not reused before the copy lands.
    EMBER_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, stream));
    pinned.record_use(dst);
    return;
  }
  if (non_blocking && src_device.is_cpu()) {
    if (pinned.contains(src)) {
      // Pinned host memory to device: a true asynchronous DMA. The event keeps the buffer from
      // being reused (or given back) while the copy may still read it.
      EMBER_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, stream));
      pinned.record_use(src);
    } else {
      // Pageable memory may be changed or freed as soon as we return, and the driver would copy
      // it synchronously anyway: copy it into a pinned staging buffer, queue the DMA from there
      // and hand the buffer back at once; its event keeps it from reuse until the DMA is done.
      void* staging = pinned.allocate(nbytes);
      struct GiveBack {
        memory::PinnedPool& pool;
        void* ptr;
        ~GiveBack() { pool.deallocate(ptr); }
      } give_back{pinned, staging};
      std::memcpy(staging, src, nbytes);
      EMBER_CUDA_CHECK(cudaMemcpyAsync(dst, staging, nbytes, cudaMemcpyHostToDevice, stream));
      pinned.record_use(staging);
    }
    return;
  }
  EMBER_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, stream));
  // Blocking transfer: the host may read or free its buffer right after we return.
  EMBER_CUDA_CHECK(cudaStreamSynchronize(stream));
  // The data may come from a kernel that met a bad index: report that rather than hand it over.
  cuda::check_device_errors();
}

}  // namespace ember
