// CUDA runtime glue: device discovery, the compute stream, error text, the device allocator and
// byte copies between host and device. The allocator here is a plain cudaMalloc/cudaFree; the
// caching allocator replaces it in the CUDA-backend issue.
#include <cstdlib>
#include <cstring>
#include <string>

#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"
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

cudaStream_t compute_stream() {
  static cudaStream_t stream = [] {
    cudaStream_t s;
    EMBER_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
  }();
  return stream;
}

void synchronize() { EMBER_CUDA_CHECK(cudaStreamSynchronize(compute_stream())); }

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

namespace {
class CudaAllocator final : public Allocator {
 public:
  explicit CudaAllocator(int index) : index_(index) {}
  void* allocate(size_t nbytes) override {
    if (nbytes == 0) return nullptr;
    EMBER_CUDA_CHECK(cudaSetDevice(index_));
    void* p = nullptr;
    const cudaError_t status = cudaMalloc(&p, nbytes);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      EMBER_FAIL("CUDA out of memory on cuda:", index_, ": tried to allocate ", nbytes,
                 " bytes; the device has ", free_bytes, " free of ", total_bytes);
    }
    EMBER_CUDA_CHECK(status);
    return p;
  }
  void deallocate(void* ptr, size_t) override {
    // Frees wait for outstanding work on the memory; cudaFree synchronises the device.
    if (ptr) cudaFree(ptr);
  }

 private:
  int index_;
};
}  // namespace

Allocator& allocator_for(Device device) {
  if (device.is_cpu()) return cpu_allocator();
  EMBER_CHECK(device.index >= 0 && device.index < cuda_device_count(), "cannot allocate on ",
              device.str(), ": ", cuda_device_count(), " CUDA device(s) visible");
  static CudaAllocator* allocators[64] = {};
  if (!allocators[device.index]) allocators[device.index] = new CudaAllocator(device.index);
  return *allocators[device.index];
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) { std::memcpy(dst, src, nbytes); return; }
  cudaStream_t stream = cuda::compute_stream();
  EMBER_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, stream));
  // The host may read or free its buffer right after we return: wait when the host is involved.
  if (dst_device.is_cpu() || src_device.is_cpu()) EMBER_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace ember
