// Storage: one reference-counted block of memory on one device, and the allocators behind it.
// Tensors are views (offset, shape, strides) into a Storage. The version counter is bumped by
// every in-place write, so autograd can refuse to use a saved tensor that changed under it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "tensor/device.h"

namespace ember {

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  // True for page-locked host memory (the pinned allocator), which the GPU copies from and to
  // asynchronously.
  virtual bool is_pinned() const { return false; }
};

Allocator& cpu_allocator();           // 64-byte aligned host memory
Allocator& allocator_for(Device device);
// Page-locked host memory from cudaHostAlloc, cached and reused (tensor/pinned_pool.h).
// Throws in a CPU-only build.
Allocator& pinned_allocator();

class Storage {
 public:
  Storage(size_t nbytes, Device device);
  // Memory from a given allocator (pinned host memory): `device` is where it lives.
  Storage(size_t nbytes, Device device, Allocator& allocator);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool is_pinned() const { return allocator_->is_pinned(); }
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;
  uint64_t version_ = 0;
};

// Copies nbytes between any two devices. Host-to-host is memcpy; anything touching a GPU goes
// through the compute stream. Without non_blocking, a copy from or to the host waits for it.
// With non_blocking (see docs/memory.md):
//   host -> device from pinned memory: queued, no wait; the pinned block is not reused before
//     the copy is done;
//   host -> device from pageable memory: the bytes are first copied into a pinned staging
//     buffer, then queued; no wait;
//   device -> host into pinned memory: queued, no wait (cuda_synchronize() before reading);
//   device -> host into pageable memory: waits, as the host reads right after.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes,
                bool non_blocking = false);

}  // namespace ember
