// Uninitialised scratch memory for CPU kernels, from the CPU allocator (tensor/storage.h), for
// buffers that a kernel overwrites entirely before reading them (the im2col column matrices of
// kernels/cpu/conv.cpp). A std::vector<T>(n) zero-fills its n elements first: for the column
// buffers of a 64x64 GAN at batch 64 (64 MiB each) that memset, and the page faults of a fresh
// block, were ~20% and ~18% of the step (docs/performance.md, "The GAN step on the CPU"). Blocks
// above 32 MiB are reused from the allocator's cache (tensor/cpu_block_cache.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/storage.h"

namespace ember::kernels::cpu {

template <typename T>
class Scratch {
 public:
  explicit Scratch(int64_t n)
      : nbytes_(static_cast<size_t>(n) * sizeof(T)),
        data_(static_cast<T*>(cpu_allocator().allocate(nbytes_))) {}
  ~Scratch() { cpu_allocator().deallocate(data_, nbytes_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* data() const { return data_; }

 private:
  size_t nbytes_;
  T* data_;
};

}  // namespace ember::kernels::cpu
