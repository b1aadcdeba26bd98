// The one device dispatch every kernel family uses (kernels/<family>.cpp): the place per op where
// the tensors' device decides which implementation runs.
//
//   EMBER_DISPATCH_DEVICE(t, name, fn, args...);
//
// runs cpu::fn(args...) when t is a CPU tensor and cuda::fn(args...) when it is a CUDA tensor,
// with t's GPU made the current device for the call (EMBER_ON_DEVICE_OF). In a CPU-only build
// the CUDA side is no_cuda_kernel(name), a clear error naming the op. It is one statement: code
// after it runs for both devices (the optimizers bump versions there). Each dispatch is counted
// under `name` (tensor/dispatch_count.h), on either device, and
// recorded while a profiler session is on (tensor/profiler.h). A CPU kernel while this thread
// captures a CUDA graph is an error naming the op (tensor/graph_capture.h). A family whose CUDA kernel
// is not written yet uses EMBER_DISPATCH_CPU_ONLY(t, name, fn, args...), the same switch with
// the error on the CUDA side in every build; it needs no cuda::fn declared.
//
// A macro rather than a template: `fn` has to be looked up in two namespaces (cpu:: and cuda::)
// as an overload set, which C++ can only do by writing the name, and cuda::fn must not be named
// at all in a CPU-only build, where it is not declared.
#pragma once
#include "tensor/dispatch_count.h"
#include "tensor/error.h"
#include "tensor/graph_capture.h"
#include "tensor/profiler.h"
#include "tensor/tensor.h"

#ifdef EMBER_WITH_CUDA
#include "tensor/cuda/device_guard.h"
// Makes t's GPU the current device for the rest of the scope (the caller's is restored after),
// so a kernel runs on its tensors' device and is queued on that device's compute stream.
#define EMBER_ON_DEVICE_OF(t) const ::ember::cuda::DeviceGuard ember_device_guard((t).device().index)
#endif

namespace ember::kernels {

[[noreturn]] inline void no_cuda_kernel(const char* op) {
#ifdef EMBER_WITH_CUDA
  EMBER_FAIL(op, ": no CUDA kernel for this op yet; move the tensors to the CPU");
#else
  EMBER_FAIL(op, ": this build has no CUDA backend; move the tensors to the CPU");
#endif
}

}  // namespace ember::kernels

#define EMBER_DISPATCH_CPU_ONLY(t, name, fn, ...)                 \
  do {                                                            \
    ::ember::count_dispatch(name);                                \
    const ::ember::profiler::OpScope ember_op_scope(name, t);     \
    if ((t).is_cuda()) ::ember::kernels::no_cuda_kernel(name);    \
    ::ember::graph::check_cpu_kernel(name);                       \
    ::ember::kernels::cpu::fn(__VA_ARGS__);                       \
  } while (0)

#ifdef EMBER_WITH_CUDA
#define EMBER_DISPATCH_DEVICE(t, name, fn, ...)                   \
  do {                                                            \
    ::ember::count_dispatch(name);                                \
    const ::ember::profiler::OpScope ember_op_scope(name, t);     \
    if ((t).is_cuda()) {                                          \
      EMBER_ON_DEVICE_OF(t);                                      \
      ::ember::kernels::cuda::fn(__VA_ARGS__);                    \
    } else {                                                      \
      ::ember::graph::check_cpu_kernel(name);                     \
      ::ember::kernels::cpu::fn(__VA_ARGS__);                     \
    }                                                             \
  } while (0)
#else
#define EMBER_DISPATCH_DEVICE(t, name, fn, ...) EMBER_DISPATCH_CPU_ONLY(t, name, fn, __VA_ARGS__)
#endif
