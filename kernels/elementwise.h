// Contract for elementwise kernels (CPU: kernels/cpu/elementwise.cpp; CUDA:
// kernels/cuda/elementwise.cu; the formulas both run: kernels/elementwise_math.h).
// `out` is preallocated (contiguous, the broadcast shape of the inputs, the inputs' dtype unless
// stated); inputs may have any strides, including 0 for broadcast dimensions. float32/float64.
#pragma once
#include <type_traits>

#include "tensor/error.h"
#include "tensor/tensor.h"

namespace ember::kernels {

// The op lists, each op named once: X(Name, Out), Out being Same (out has the inputs' dtype) or
// Mask (out is uint8, 0 or 1). They generate the enums below, the switch that turns a run-time op
// into a compile-time one (with_op, used by the CPU loops and the CUDA launches alike) and so every
// kernel instantiation. Each op's formula is written once, in kernels/elementwise_math.h; adding
// an op is a line here and a formula there (docs/adding-an-op.md).
#define EMBER_BINARY_OPS(X)                                                                  \
  X(Add, Same)                                                                              \
  X(Sub, Same)                                                                              \
  X(Mul, Same)                                                                              \
  X(Div, Same)                                                                              \
  X(Equal, Mask)          /* a == b */                                                      \
  X(ReluGrad, Same)       /* a = grad, b = x: a * (x > 0) */                                \
  X(LeakyReluGrad, Same)  /* a = grad, b = x: a * (x > 0 ? 1 : alpha) */                    \
  X(SigmoidGrad, Same)    /* a = grad, b = y = sigmoid(x): a * y * (1 - y) */               \
  X(TanhGrad, Same)       /* a = grad, b = y = tanh(x): a * (1 - y^2) */                    \
  X(SiluGrad, Same)       /* a = grad, b = x: a * s * (1 + x * (1 - s)), s = sigmoid(x) */  \
  X(SoftplusGrad, Same)   /* a = grad, b = x: a * sigmoid(x) */

#define EMBER_UNARY_OPS(X)                                                      \
  X(Neg, Same)                                                                 \
  X(Reciprocal, Same)                                                          \
  X(Sqrt, Same)                                                                \
  X(Rsqrt, Same)                                                               \
  X(Exp, Same)                                                                 \
  X(Log, Same)                                                                 \
  X(Abs, Same)                                                                 \
  X(Sign, Same)                                                                \
  X(Relu, Same)                                                                \
  X(Sigmoid, Same)                                                             \
  X(Tanh, Same)                                                                \
  X(Silu, Same)                                                                \
  X(Softplus, Same)       /* log(1 + exp(x)) */                                \
  X(AddScalar, Same)      /* x + alpha */                                      \
  X(MulScalar, Same)      /* x * alpha */                                      \
  X(Pow, Same)            /* x ^ alpha */                                      \
  X(LeakyRelu, Same)      /* x > 0 ? x : alpha * x */                          \
  X(Clamp, Same)          /* min(max(x, alpha), beta) */                       \
  X(InsideMask, Same)     /* 1 where alpha < x < beta, else 0 (same dtype) */  \
  X(GreaterScalar, Mask)  /* x > alpha */                                      \
  X(LessScalar, Mask)     /* x < alpha */

enum class ElementwiseOut { Same, Mask };

#define EMBER_ELEMENTWISE_ENUMERATOR(name, out) name,
enum class BinaryOp { EMBER_BINARY_OPS(EMBER_ELEMENTWISE_ENUMERATOR) };
enum class UnaryOp { EMBER_UNARY_OPS(EMBER_ELEMENTWISE_ENUMERATOR) };
#undef EMBER_ELEMENTWISE_ENUMERATOR

// True for the ops whose out is a uint8 mask.
constexpr bool writes_mask(BinaryOp op) {
  switch (op) {
#define EMBER_ELEMENTWISE_CASE(name, out) \
  case BinaryOp::name: return ElementwiseOut::out == ElementwiseOut::Mask;
    EMBER_BINARY_OPS(EMBER_ELEMENTWISE_CASE)
#undef EMBER_ELEMENTWISE_CASE
  }
  return false;
}
constexpr bool writes_mask(UnaryOp op) {
  switch (op) {
#define EMBER_ELEMENTWISE_CASE(name, out) \
  case UnaryOp::name: return ElementwiseOut::out == ElementwiseOut::Mask;
    EMBER_UNARY_OPS(EMBER_ELEMENTWISE_CASE)
#undef EMBER_ELEMENTWISE_CASE
  }
  return false;
}

// The op's name as dispatches are counted and reported ("Add", "SiluGrad", ...).
constexpr const char* op_name(BinaryOp op) {
  switch (op) {
#define EMBER_ELEMENTWISE_CASE(name, out) \
  case BinaryOp::name: return #name;
    EMBER_BINARY_OPS(EMBER_ELEMENTWISE_CASE)
#undef EMBER_ELEMENTWISE_CASE
  }
  return "binary elementwise";
}
constexpr const char* op_name(UnaryOp op) {
  switch (op) {
#define EMBER_ELEMENTWISE_CASE(name, out) \
  case UnaryOp::name: return #name;
    EMBER_UNARY_OPS(EMBER_ELEMENTWISE_CASE)
#undef EMBER_ELEMENTWISE_CASE
  }
  return "unary elementwise";
}

// Calls fn(std::integral_constant<BinaryOp, op>{}): the run-time op becomes a compile-time
// constant, so each loop or kernel the callers write is specialised per op.
template <typename Fn>
void with_op(BinaryOp op, Fn&& fn) {
  switch (op) {
#define EMBER_ELEMENTWISE_CASE(name, out) \
  case BinaryOp::name: return fn(std::integral_constant<BinaryOp, BinaryOp::name>{});
    EMBER_BINARY_OPS(EMBER_ELEMENTWISE_CASE)
#undef EMBER_ELEMENTWISE_CASE
  }
  EMBER_FAIL("binary elementwise: unknown op ", static_cast<int>(op));
}
template <typename Fn>
void with_op(UnaryOp op, Fn&& fn) {
  switch (op) {
#define EMBER_ELEMENTWISE_CASE(name, out) \
  case UnaryOp::name: return fn(std::integral_constant<UnaryOp, UnaryOp::name>{});
    EMBER_UNARY_OPS(EMBER_ELEMENTWISE_CASE)
#undef EMBER_ELEMENTWISE_CASE
  }
  EMBER_FAIL("unary elementwise: unknown op ", static_cast<int>(op));
}

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
