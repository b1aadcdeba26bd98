// Contract for elementwise kernels (CPU: kernels/cpu/elementwise.cpp; CUDA:
// kernels/cuda/elementwise.cu).
// `out` is preallocated (contiguous, the broadcast shape of the inputs, the inputs' dtype unless
// stated); inputs may have any strides, including 0 for broadcast dimensions. float32/float64.
#pragma once
#include "tensor/tensor.h"

namespace ember::kernels {

enum class BinaryOp {
  Add, Sub, Mul, Div,
  Equal,                 // out uint8: a == b
  ReluGrad,              // a = grad, b = x: a * (x > 0)
  LeakyReluGrad,         // a = grad, b = x: a * (x > 0 ? 1 : alpha)
  SigmoidGrad,           // a = grad, b = y = sigmoid(x): a * y * (1 - y)
  TanhGrad,              // a = grad, b = y = tanh(x): a * (1 - y^2)
  SiluGrad,              // a = grad, b = x: a * s * (1 + x * (1 - s)), s = sigmoid(x)
};

enum class UnaryOp {
  Neg, Reciprocal, Sqrt, Rsqrt, Exp, Log, Abs, Sign,
  Relu, Sigmoid, Tanh, Silu,
  AddScalar,      // x + alpha
  MulScalar,      // x * alpha
  Pow,            // x ^ alpha
  LeakyRelu,      // x > 0 ? x : alpha * x
  Clamp,          // min(max(x, alpha), beta)
  InsideMask,     // 1 where alpha < x < beta, else 0 (same dtype)
  GreaterScalar,  // out uint8: x > alpha
  LessScalar,     // out uint8: x < alpha
};

void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, double alpha = 0);
void unary(UnaryOp op, const Tensor& out, const Tensor& x, double alpha = 0, double beta = 0);
// out = cond != 0 ? a : b, with cond of any dtype; all broadcast to out's shape.
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
// self += alpha * other, other broadcast into self's shape.
void add_inplace(const Tensor& self, const Tensor& other, double alpha);

namespace cpu {
void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, double alpha);
void unary(UnaryOp op, const Tensor& out, const Tensor& x, double alpha, double beta);
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
void add_inplace(const Tensor& self, const Tensor& other, double alpha);
}  // namespace cpu

#ifdef EMBER_WITH_CUDA
namespace cuda {
void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, double alpha);
void unary(UnaryOp op, const Tensor& out, const Tensor& x, double alpha, double beta);
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
void add_inplace(const Tensor& self, const Tensor& other, double alpha);
}  // namespace cuda
#endif

// Strides of `t` seen through broadcasting to `shape` (0 on broadcast dimensions).
Shape broadcast_strides(const Tensor& t, const Shape& shape);

}  // namespace ember::kernels
