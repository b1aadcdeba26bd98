// Device dispatch for indexing kernels.
#include "kernels/index.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void gather(const Tensor& out, const Tensor& x, int64_t axis, const Tensor& index) {
  if (x.is_cuda()) no_cuda_kernel("gather");
  cpu::gather(out, x, axis, index);
}

void scatter_add(const Tensor& out, int64_t axis, const Tensor& index, const Tensor& src) {
  if (src.is_cuda()) no_cuda_kernel("scatter_add");
  cpu::scatter_add(out, axis, index, src);
}

void embedding(const Tensor& out, const Tensor& weight, const Tensor& index) {
  if (weight.is_cuda()) no_cuda_kernel("embedding");
  cpu::embedding(out, weight, index);
}

void embedding_backward(const Tensor& out, const Tensor& g, const Tensor& index) {
  if (g.is_cuda()) no_cuda_kernel("embedding_backward");
  cpu::embedding_backward(out, g, index);
}

}  // namespace ember::kernels
