// cuDNN handles and error text (see cudnn_context.h).
#include "kernels/cuda/cudnn_context.h"

#include <mutex>
#include <string>
#include <vector>

#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::cuda {

void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line) {
  std::string message = std::string("cuDNN error in ") + call + ": " + cudnnGetErrorString(status);
  char detail[1024] = {0};
  cudnnGetLastErrorString(detail, sizeof(detail));
  if (detail[0]) message += std::string(" [") + detail + "]";
  detail::throw_error(file, line, message);
}

cudnnHandle_t cudnn_handle(int device) {
  static std::mutex mutex;
  static std::vector<cudnnHandle_t> handles;
  std::lock_guard<std::mutex> lock(mutex);
  EMBER_CHECK(device >= 0, "cudnn_handle: bad device index ", device);
  if (static_cast<size_t>(device) >= handles.size()) handles.resize(device + 1, nullptr);
  if (!handles[device]) {
    // A handle belongs to the device current at creation; the caller's device is restored after.
    DeviceGuard guard(device);
    cudnnHandle_t h = nullptr;
    EMBER_CUDNN_CHECK(cudnnCreate(&h));
    EMBER_CUDNN_CHECK(cudnnSetStream(h, compute_stream(device)));
    handles[device] = h;  // never destroyed: lives until the process exits, like the stream
  }
  return handles[device];
}

}  // namespace ember::cuda
