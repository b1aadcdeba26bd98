#include "tensor/storage.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>

#include "tensor/cpu_block_cache.h"
#include "tensor/error.h"
#include "tensor/memory.h"

namespace ember {

namespace {
// glibc's largest mmap threshold: blocks above it are fresh mmap()s whatever mallopt says.
constexpr size_t kLargeBlock = size_t{32} << 20;

void* aligned_block(size_t nbytes) {
  const size_t rounded = (nbytes + 63) / 64 * 64;  // aligned_alloc wants a multiple of 64
  return std::aligned_alloc(64, rounded);
}

// Default cap on the cached large blocks: a quarter of physical memory, at most 4 GiB.
size_t default_cache_limit() {
  if (const char* mb = std::getenv("EMBER_CPU_CACHE_LIMIT_MB")) {
    return static_cast<size_t>(std::strtoull(mb, nullptr, 10)) << 20;
  }
  size_t limit = size_t{4} << 30;
#ifdef _SC_PHYS_PAGES
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0)
    limit = std::min(limit, static_cast<size_t>(pages) * static_cast<size_t>(page) / 4);
#endif
  return limit;
}

class CpuAllocator final : public Allocator {
 public:
  CpuAllocator()
      : direct_(cpu_allocator_direct_from(std::getenv("EMBER_CPU_ALLOCATOR"))),
        large_({.allocate = aligned_block, .release = [](void* p) { std::free(p); }},
               direct_ ? 0 : default_cache_limit()) {
#ifdef __GLIBC__
    // glibc hands blocks above its mmap threshold (adaptive, 128 KiB .. 32 MiB) fresh mmap()s and
    // unmaps them on free, and trims the heap top beyond the trim threshold, so every training
    // step page-faulted and zeroed its activations again: ~20% of a single-threaded
    // EfficientNetB2 CPU step (docs/cpu_performance.md). Serve blocks up to 32 MiB (glibc's
    // maximum) from the heap and keep freed memory for reuse; larger ones go through large_.
    // Process-wide, set once, on the first CPU allocation.
    mallopt(M_MMAP_THRESHOLD, static_cast<int>(kLargeBlock));
    mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
#endif
  }
  void* allocate(size_t nbytes) override {
    if (nbytes == 0) return nullptr;
    void* p = direct_ || nbytes <= kLargeBlock ? aligned_block(nbytes) : large_.allocate(nbytes);
    EMBER_CHECK(p != nullptr, "out of host memory: could not allocate ", nbytes, " bytes");
    return p;
  }
  void deallocate(void* ptr, size_t nbytes) override {
    if (direct_ || nbytes <= kLargeBlock) std::free(ptr);
    else large_.deallocate(ptr);
  }
  bool direct() const { return direct_; }
  CpuBlockCache& large() { return large_; }

 private:
  const bool direct_;
  CpuBlockCache large_;  // blocks above kLargeBlock (tensor/cpu_block_cache.h)
};

// Never destroyed: tensors in other static objects may be freed after this file's statics are.
CpuAllocator& the_cpu_allocator() {
  static CpuAllocator* allocator = new CpuAllocator;
  return *allocator;
}
}  // namespace

bool cpu_allocator_direct_from(const char* value) {
  if (value == nullptr || *value == '\0') return false;
  const std::string v = value;
  EMBER_CHECK(v == "direct" || v == "caching", "EMBER_CPU_ALLOCATOR must be 'direct' or 'caching', got '", v, "'");
  return v == "direct";
}

bool cpu_allocator_is_direct() { return the_cpu_allocator().direct(); }
CpuCacheStats cpu_cache_stats() { return the_cpu_allocator().large().stats(); }
void cpu_empty_cache() { the_cpu_allocator().large().empty(); }
void cpu_set_cache_limit(size_t bytes) {
  if (!the_cpu_allocator().direct()) the_cpu_allocator().large().set_limit(bytes);
}

Allocator& cpu_allocator() { return the_cpu_allocator(); }

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
