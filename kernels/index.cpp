// Device dispatch for indexing kernels.
#include "kernels/index.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void gather(const Tensor& out, const Tensor& x, int64_t axis, const Tensor& index) {
  if (x.is_cuda()) {
#ifdef EMBER_WITH_CUDA
    EMBER_ON_DEVICE_OF(x);
    cuda::gather(out, x, axis, index);
    return;
#else
    no_cuda_kernel("gather");
#endif
  }
  cpu::gather(out, x, axis, index);
}

void scatter_add(const Tensor& out, int64_t axis, const Tensor& index, const Tensor& src) {
  if (src.is_cuda()) {
#ifdef EMBER_WITH_CUDA
    EMBER_ON_DEVICE_OF(src);
    cuda::scatter_add(out, axis, index, src);
    return;
#else
    no_cuda_kernel("scatter_add");
#endif
  }
  cpu::scatter_add(out, axis, index, src);
}

void embedding(const Tensor& out, const Tensor& weight, const Tensor& index) {
  if (weight.is_cuda()) {
#ifdef EMBER_WITH_CUDA
    EMBER_ON_DEVICE_OF(weight);
    cuda::embedding(out, weight, index);
    return;
#else
    no_cuda_kernel("embedding");
#endif
  }
  cpu::embedding(out, weight, index);
}

void embedding_backward(const Tensor& out, const Tensor& g, const Tensor& index) {
  if (g.is_cuda()) {
#ifdef EMBER_WITH_CUDA
    EMBER_ON_DEVICE_OF(g);
    cuda::embedding_backward(out, g, index);
    return;
#else
    no_cuda_kernel("embedding_backward");
#endif
  }
  cpu::embedding_backward(out, g, index);
}

}  // namespace ember::kernels
