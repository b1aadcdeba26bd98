// Deferred device-side error reports (like CUDA's device asserts, but recoverable and with the
// CPU path's messages). Each device has one error record, set up on first use and never freed:
//   claim       int in device memory: 0, or the code of the first error since the last report.
//               A kernel claims it with atomicCAS(0 -> code); only the winner writes the record,
//               so the FIRST error (in stream order) is the one kept and later ones are dropped.
//   record      DeviceErrorRecord in mapped pinned host memory: the winner's plain stores land
//               in host memory, so reading it costs the host no copy at all. The host reads it
//               only after a stream synchronisation it makes anyway; the kernel that wrote it has
//               then finished and its stores are visible, so no other ordering is needed.
//   first_bad, blocks_done
//               scratch in device memory for kernels that first reduce to the smallest bad
//               position and then record that one (kernels/cuda/range_check.cu); they are ~0 and
//               0 between kernels (the last block puts them back).
// check_device_errors() runs after every existing synchronisation (blocking device-to-host
// copies, ember::cuda::synchronize(), and each checked launch in EMBER_CUDA_SYNC=1 mode) and
// adds none: when a record is set it clears it (host side now, the claim by a queued memset, so
// a later good call works) and throws ember::Error with deferred_device_error_message().
// Assumes, like the rest of the backend, that one host thread drives the one compute stream.
// Design: docs/cuda_kernels.md ("Deferred device errors"); GPU tests in tests/test_cuda_index.cpp
// and tests/test_cuda_loss.cpp, the message formatter on the CPU in tests/test_device_error.cpp.
#pragma once
#include <cstdint>

#include "tensor/device_error.h"

namespace ember::cuda {

// Device addresses of one device's error state (kernel arguments are copies of this).
struct DeviceErrorSlot {
  int* claim = nullptr;
  DeviceErrorRecord* record = nullptr;   // device address of the mapped host record
  unsigned long long* first_bad = nullptr;
  unsigned int* blocks_done = nullptr;
};

// The slot of cuda:<device>, allocated (and initialised on the compute stream) on first use.
DeviceErrorSlot device_error_slot(int device);

// After a synchronisation: throws the first recorded error of any device, if there is one, and
// clears it. `kernel` names the launch just checked in EMBER_CUDA_SYNC=1 mode, else null.
void check_device_errors(const char* kernel = nullptr);

#ifdef __CUDACC__
// Records an error unless one is already recorded (the first one wins; see above). Safe to call
// from any number of threads; only the one that claims the record writes it, code last.
__device__ inline void record_device_error(const DeviceErrorSlot& slot, DeviceErrorCode code,
                                           int64_t value, int64_t position, int64_t bound,
                                           int64_t axis) {
  if (atomicCAS(slot.claim, 0, static_cast<int>(code)) != 0) return;
  DeviceErrorRecord* r = slot.record;
  r->value = value;
  r->position = position;
  r->bound = bound;
  r->axis = axis;
  r->code = static_cast<int32_t>(code);
}
#endif

}  // namespace ember::cuda
