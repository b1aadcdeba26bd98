// cuBLAS handles and error text (see cublas_context.h).
#include "kernels/cuda/cublas_context.h"

#include <mutex>
#include <string>
#include <vector>

#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"
#include "tensor/tensor.h"

namespace ember::cuda {

void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  detail::throw_error(file, line, std::string("cuBLAS error in ") + call + ": " +
                                      cublasGetStatusName(status) + " (" +
                                      cublasGetStatusString(status) + ")");
}

cublasHandle_t cublas_handle(int device) {
  static std::mutex mutex;
  static std::vector<cublasHandle_t> handles;
  std::lock_guard<std::mutex> lock(mutex);
  EMBER_CHECK(device >= 0, "cublas_handle: bad device index ", device);
  if (static_cast<size_t>(device) >= handles.size()) handles.resize(device + 1, nullptr);
  if (!handles[device]) {
    // A handle belongs to the device current at creation; the caller's device is restored after.
    DeviceGuard guard(device);
    cublasHandle_t h = nullptr;
    EMBER_CUBLAS_CHECK(cublasCreate(&h));
    EMBER_CUBLAS_CHECK(cublasSetStream(h, compute_stream(device)));
    // Exact fp32 unless a call opts into TF32 through its compute type (kernels/cuda/linalg.cpp).
    EMBER_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    // A workspace of our own (cuBLAS's recommended 32 MiB for Hopper) from the device allocator,
    // so cuBLAS never allocates behind the allocator's back (which would also break CUDA-graph
    // capture of a training step). Never freed, like the handle. It must come after
    // cublasSetStream, which resets the workspace to cuBLAS's own pool.
    static std::vector<Tensor>& workspaces = *new std::vector<Tensor>();
    constexpr int64_t kWorkspaceBytes = int64_t{32} << 20;
    workspaces.push_back(empty({kWorkspaceBytes}, {DType::UInt8, Device::cuda(device)}));
    EMBER_CUBLAS_CHECK(cublasSetWorkspace(h, workspaces.back().raw_data(), kWorkspaceBytes));
    handles[device] = h;  // never destroyed: lives until the process exits, like the stream
  }
  return handles[device];
}

}  // namespace ember::cuda
