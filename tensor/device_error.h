// Deferred device-side error reports, the part every build has: the record a GPU kernel fills
// when it meets bad input it cannot throw about (an index out of range), and the formatter that
// turns it into the CPU path's message. The CUDA side (where the record lives, how kernels fill
// it, when the host reads it) is tensor/cuda/device_errors.h; the design is in
// docs/cuda_kernels.md ("Deferred device errors"). The formatter is tested on the CPU in
// tests/test_device_error.cpp.
#pragma once
#include <cstdint>
#include <string>

namespace ember {

// What went wrong, and in which op. Zero means "no error" (the record's resting state).
enum class DeviceErrorCode : int32_t {
  None = 0,
  GatherIndex = 1,             // gather: index value outside [0, x.shape[axis])
  ScatterAddIndex = 2,         // scatter_add: index value outside [0, out.shape[axis])
  EmbeddingIndex = 3,          // embedding: row index outside [0, V)
  EmbeddingBackwardIndex = 4,  // embedding_backward: row index outside [0, V)
  CrossEntropyTarget = 5,      // cross_entropy: target label outside [0, C)
};

// One error, as a kernel wrote it. Plain data with the same layout on host and device.
struct DeviceErrorRecord {
  int32_t code = 0;      // a DeviceErrorCode
  int32_t unused = 0;    // keeps the int64 fields 8-byte aligned
  int64_t value = 0;     // the bad value (index or label)
  int64_t position = 0;  // where it was: row-major position in the index (the sample, for labels)
  int64_t bound = 0;     // the valid range is [0, bound)
  int64_t axis = 0;      // the indexed axis (index ops)
};

// The CPU path's message for the problem in `record`, e.g. "gather: index 7 is out of range
// [0, 5) for axis 1 (index entry 3 in row-major order)". The GPU cannot name the indexed
// tensor's shape (the record has no room for it) but adds the position instead.
std::string format_device_error(const DeviceErrorRecord& record);

// format_device_error plus where the report came from: `kernel` (the launch that EMBER_CUDA_SYNC=1
// checked right away) or, when null, an earlier asynchronous kernel found at a synchronisation.
std::string deferred_device_error_message(const DeviceErrorRecord& record, const char* kernel);

}  // namespace ember
