// Emulator stand-in for tensor/cuda/device_errors.h (tools/emulate_cuda/): the real header,
// read with __CUDACC__ defined so that its __device__ recorder (record_device_error) is compiled
// too, against this shim's atomics. Its host half, tensor/cuda/device_errors.cpp, is compiled
// unchanged by run.sh against the shim runtime (malloc'ed host memory stands in for the device
// words and the mapped pinned record), so the checks read a kernel's report the way the host
// does: ember::cuda::check_device_errors() after the (here implicit) synchronisation.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "tensor/device_error.h"  // before __CUDACC__: only the device part needs it

#ifdef __CUDACC__
#error "emulator shim: __CUDACC__ is already defined"
#endif
#define __CUDACC__ 1
#include_next "tensor/cuda/device_errors.h"
#undef __CUDACC__
