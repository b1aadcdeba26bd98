// Device dispatch for indexing kernels.
#include "kernels/index.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void gather(const Tensor& out, const Tensor& x, int64_t axis, const Tensor& index) {
  EMBER_DISPATCH_DEVICE(x, "gather", gather, out, x, axis, index);
}

void scatter_add(const Tensor& out, int64_t axis, const Tensor& index, const Tensor& src) {
  EMBER_DISPATCH_DEVICE(src, "scatter_add", scatter_add, out, axis, index, src);
}

void embedding(const Tensor& out, const Tensor& weight, const Tensor& index) {
  EMBER_DISPATCH_DEVICE(weight, "embedding", embedding, out, weight, index);
}

void embedding_backward(const Tensor& out, const Tensor& g, const Tensor& index) {
  EMBER_DISPATCH_DEVICE(g, "embedding_backward", embedding_backward, out, g, index);
}

}  // namespace ember::kernels
