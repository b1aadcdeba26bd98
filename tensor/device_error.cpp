// Formats the records of tensor/device_error.h into the messages the CPU path throws for the same
// problems (kernels/cpu/index.cpp's check_index, kernels/cpu/loss.cpp's label check), so a bad
// index reads the same on either device. Tested in tests/test_device_error.cpp.
#include "tensor/device_error.h"

#include "tensor/error.h"

namespace ember {

namespace {

const char* index_op_name(DeviceErrorCode code) {
  switch (code) {
    case DeviceErrorCode::GatherIndex: return "gather";
    case DeviceErrorCode::ScatterAddIndex: return "scatter_add";
    case DeviceErrorCode::EmbeddingIndex: return "embedding";
    case DeviceErrorCode::EmbeddingBackwardIndex: return "embedding_backward";
    default: return nullptr;
  }
}

}  // namespace

std::string format_device_error(const DeviceErrorRecord& r) {
  const auto code = static_cast<DeviceErrorCode>(r.code);
  if (const char* op = index_op_name(code))
    return detail::concat(op, ": index ", r.value, " is out of range [0, ", r.bound, ") for axis ",
                          r.axis, " (index entry ", r.position, " in row-major order)");
  if (code == DeviceErrorCode::CrossEntropyTarget)
    return detail::concat("cross_entropy: target label ", r.value, " of sample ", r.position,
                          " is out of range [0, ", r.bound, ")");
  // A code this build does not know: still say everything the record holds.
  return detail::concat("device error ", r.code, ": value ", r.value, " at position ", r.position,
                        ", valid range [0, ", r.bound, "), axis ", r.axis);
}

std::string deferred_device_error_message(const DeviceErrorRecord& record, const char* kernel) {
  if (kernel)
    return detail::concat(format_device_error(record), " [raised on the GPU by ", kernel,
                          ", checked at once because EMBER_CUDA_SYNC=1]");
  return format_device_error(record) +
         " [raised on the GPU by an earlier asynchronous kernel and reported at this "
         "synchronisation; set EMBER_CUDA_SYNC=1 to report it at the launch that caused it]";
}

}  // namespace ember
