// Raw data movement: strided copies with dtype conversion, fills, device transfers.
// The CPU side is here; the GPU side of same-device copies and fills is tensor/cuda/copy.cu,
// byte transfers between devices are copy_bytes (tensor/cuda/cuda_runtime.cpp). Host access to
// pinned memory waits for the asynchronous copies still queued on it (docs/memory.md).
#include <cstring>

#include "tensor/cuda_hooks.h"
#include "tensor/dispatch_count.h"
#include "tensor/error.h"
#include "tensor/graph_capture.h"
#include "tensor/profiler.h"
#include "tensor/strided_loop.h"
#include "tensor/tensor.h"

namespace ember {

namespace {

void copy_cpu(const Tensor& dst, const Tensor& src) {
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    if (dst.numel()) std::memcpy(dst.raw_data(), src.raw_data(), dst.numel() * dtype_size(dst.dtype()));
    return;
  }
  dispatch_all(dst.dtype(), [&](auto dst_tag) {
    using To = typename decltype(dst_tag)::type;
    dispatch_all(src.dtype(), [&](auto src_tag) {
      using From = typename decltype(src_tag)::type;
      To* out = static_cast<To*>(dst.raw_data());
      const From* in = static_cast<const From*>(src.raw_data());
      for_each_strided<2>(dst.shape(), {dst.strides().data(), src.strides().data()},
                          [&](const std::array<int64_t, 2>& o) {
                            out[o[0]] = convert_scalar<To>(in[o[1]]);
                          });
    });
  });
}

void fill_cpu(const Tensor& dst, double value) {
  dispatch_all(dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = convert_scalar<T>(value);
    T* out = static_cast<T*>(dst.raw_data());
    for_each_strided<1>(dst.shape(), {dst.strides().data()},
                        [&](const std::array<int64_t, 1>& o) { out[o[0]] = v; });
  });
}

// The host is about to read or write t's memory: if it is pinned, asynchronous copies from or
// into it may still be queued, so wait for them (pageable memory never has any). Copies between
// devices need no such wait: they are queued on the one compute stream, behind the earlier ones.
void wait_for_host_access(const Tensor& t) {
  if (t.is_pinned()) cuda_hooks::wait_for_pinned(t.storage()->data());
}

}  // namespace

void copy_(const Tensor& dst, const Tensor& src, bool non_blocking) {
  check_defined(dst, "copy_", "dst");
  check_defined(src, "copy_", "src");
  check_same_shape(dst, src, "copy_");
  const char* op = dst.device() == src.device() ? "copy" : "copy between devices";
  count_dispatch(op);
  const profiler::OpScope op_scope(op, dst);
  if (dst.device() == src.device()) {
    if (dst.device().is_cpu()) {
      graph::check_not_capturing("a copy in CPU memory");
      wait_for_host_access(dst);
      wait_for_host_access(src);
      copy_cpu(dst, src);
    } else {
      cuda_hooks::copy_same_device(dst, src);
    }
  } else {
    // A replay would not repeat the host's side of it (nor could the host read the result).
    graph::check_not_capturing("a copy between devices");
    // Across devices: make a contiguous source of the destination's dtype on the source device,
    // move the bytes, then place them (strided) on the destination device if needed.
    Tensor staged = (src.dtype() == dst.dtype() && src.is_contiguous())
                        ? src : convert(src, dst.dtype(), src.device());
    if (dst.is_contiguous()) {
      copy_bytes(dst.raw_data(), dst.device(), staged.raw_data(), staged.device(),
                 staged.numel() * dtype_size(dst.dtype()), non_blocking);
    } else {
      // A device->host landing buffer is pageable, so copy_bytes waits there (the host copy
      // below reads it); a host->device one stays queued on the stream.
      Tensor landed = empty(dst.shape(), {dst.dtype(), dst.device()});
      copy_bytes(landed.raw_data(), dst.device(), staged.raw_data(), staged.device(),
                 staged.numel() * dtype_size(dst.dtype()), non_blocking);
      copy_(dst, landed);
      return;  // the inner copy_ bumped the version
    }
  }
  dst.bump_version();
}

void fill_(const Tensor& dst, double value) {
  check_defined(dst, "fill_", "dst");
  count_dispatch("fill");
  const profiler::OpScope op_scope("fill", dst);
  if (dst.device().is_cpu()) {
    graph::check_not_capturing("a fill of CPU memory");
    wait_for_host_access(dst);
    fill_cpu(dst, value);
  } else {
    cuda_hooks::fill(dst, value);
  }
  dst.bump_version();
}

Tensor convert(const Tensor& t, DType dtype, Device device, bool non_blocking) {
  check_defined(t, "convert", "tensor");
  // A device->host copy can only stay queued when it lands in pinned memory.
  const bool pinned_landing = non_blocking && device.is_cpu() && t.device().is_cuda();
  Tensor out = pinned_landing ? empty_pinned(t.shape(), dtype) : empty(t.shape(), {dtype, device});
  copy_(out, t, non_blocking);
  return out;
}

}  // namespace ember
