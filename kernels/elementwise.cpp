// Device dispatch for elementwise kernels: the one place that picks the CPU reference
// (kernels/cpu/elementwise.cpp) or the CUDA kernels (kernels/cuda/elementwise.cu).
#include "kernels/elementwise.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape strides(shape.size(), 0);
  const size_t lead = shape.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i)
    strides[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return strides;
}

void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, double alpha) {
  EMBER_DISPATCH_DEVICE(out, op_name(op), binary, op, out, a, b, alpha);
}

void unary(UnaryOp op, const Tensor& out, const Tensor& x, double alpha, double beta) {
  EMBER_DISPATCH_DEVICE(out, op_name(op), unary, op, out, x, alpha, beta);
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  EMBER_DISPATCH_DEVICE(out, "where", where, out, cond, a, b);
}

void add_inplace(const Tensor& self, const Tensor& other, double alpha) {
  EMBER_DISPATCH_DEVICE(self, "add_", add_inplace, self, other, alpha);
}

}  // namespace ember::kernels
