#include "tensor/storage.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cstdlib>
#include <limits>
#include <cstring>
#include <new>

#include "tensor/error.h"

namespace ember {

namespace {
class CpuAllocator final : public Allocator {
 public:
  CpuAllocator() {
#ifdef __GLIBC__
    // glibc hands blocks above its mmap threshold (adaptive, 128 KiB .. 32 MiB) fresh mmap()s and
    // unmaps them on free, and trims the heap top beyond the trim threshold, so every training
    // step page-faulted and zeroed its activations again: ~20% of a single-threaded
    // EfficientNetB2 CPU step (docs/cpu_performance.md). Serve blocks up to 32 MiB (glibc's
    // maximum) from the heap and keep freed memory for reuse. Process-wide, set once, on the
    // first CPU allocation.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
#endif
  }
  void* allocate(size_t nbytes) override {
    if (nbytes == 0) return nullptr;
    const size_t rounded = (nbytes + 63) / 64 * 64;  // aligned_alloc wants a multiple of 64
    void* p = std::aligned_alloc(64, rounded);
    EMBER_CHECK(p != nullptr, "out of host memory: could not allocate ", nbytes, " bytes");
    return p;
  }
  void deallocate(void* ptr, size_t) override { std::free(ptr); }
};
}  // namespace

Allocator& cpu_allocator() {
  static CpuAllocator allocator;
  return allocator;
}

#ifndef EMBER_WITH_CUDA
Allocator& allocator_for(Device device) {
  EMBER_CHECK(device.is_cpu(), "cannot allocate on ", device.str(),
              ": this build has no CUDA backend (configure with -DEMBER_CUDA=ON)");
  return cpu_allocator();
}

Allocator& pinned_allocator() {
  EMBER_FAIL("pinned host memory needs the CUDA runtime: this build has no CUDA backend ",
             "(configure with -DEMBER_CUDA=ON)");
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes,
                bool) {
  EMBER_CHECK(dst_device.is_cpu() && src_device.is_cpu(), "cannot copy from ", src_device.str(),
              " to ", dst_device.str(), ": this build has no CUDA backend");
  if (nbytes) std::memcpy(dst, src, nbytes);
}
#endif

Storage::Storage(size_t nbytes, Device device)
    : nbytes_(nbytes), device_(device), allocator_(&allocator_for(device)) {
  data_ = allocator_->allocate(nbytes);
}

Storage::Storage(size_t nbytes, Device device, Allocator& allocator)
    : nbytes_(nbytes), device_(device), allocator_(&allocator) {
  data_ = allocator_->allocate(nbytes);
}

Storage::~Storage() {
  if (data_) allocator_->deallocate(data_, nbytes_);
}

}  // namespace ember
