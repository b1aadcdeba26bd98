// Device-side range check of int64 indices, reported through the deferred device error record
// (tensor/cuda/device_errors.h) instead of a host sync. Used by kernels/cuda/index.cu (gather,
// scatter_add, embedding, embedding_backward) and kernels/cuda/loss.cu (cross-entropy targets).
// Tested through those ops in tests/test_cuda_index.cpp and tests/test_cuda_loss.cpp.
#pragma once
#include <cstdint>

#include "tensor/device_error.h"
#include "tensor/tensor.h"

namespace ember::kernels::cuda {

// Queues one kernel that finds the first entry of `index` (int64, any strides, on a GPU) in
// row-major order that lies outside [0, bound) and, if there is one, records (code, its value,
// its row-major position, bound, axis) as the device's error. Nothing waits: the error is thrown
// at the host's next synchronisation. The reported entry does not depend on timing (it is the
// smallest bad position), so it is the one the CPU path names. Launches nothing for an empty
// index.
void check_index_range(const Tensor& index, int64_t bound, DeviceErrorCode code, int64_t axis);

}  // namespace ember::kernels::cuda
