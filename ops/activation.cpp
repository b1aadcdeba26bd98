// Activations and softmax: forward kernel, then the backward recorded right next to it.
// Matches torch.relu, F.leaky_relu, torch.sigmoid, F.silu, F.softplus, torch.tanh, torch.softmax
// and torch.log_softmax. Tested in tests/test_activation.cpp and tests/test_softplus.cpp.
//
// Pointwise activations take the fused gradient kernel (kernels::BinaryOp::*Grad) on a plain
// backward pass. While the engine records the backward (create_graph) they use the same formula
// written with differentiable ops instead, so second derivatives are exact:
//   relu:    g * (x > 0)                    leaky_relu: g * (x > 0 ? 1 : slope)
//   sigmoid: g * y * (1 - y)                tanh:       g * (1 - y^2)
//   silu:    g * (s + x * s * (1 - s)),  s = sigmoid(x)
//   softplus: g * sigmoid(x)
// where y is the op's output (saved with its history, so the composite differentiates through
// it). Softmax and log_softmax along an axis:
//   softmax:     dx = y * (g - sum(g * y, axis))
//   log_softmax: dx = g - exp(y) * sum(g, axis)
#include "ops/activation.h"

#include "autograd/function.h"
#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/shape.h"

namespace ember {

using kernels::BinaryOp;
using kernels::UnaryOp;

namespace {

void check_float_input(const Tensor& x, const char* name) {
  check_defined(x, name, "x");
  EMBER_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, name,
              ": expected a float32 or float64 tensor, got ", x.describe());
}

Tensor unary_forward(UnaryOp op, const Tensor& x, const char* name, double alpha = 0) {
  check_float_input(x, name);
  Tensor out = empty(x.shape(), {x.dtype(), x.device()});
  kernels::unary(op, out, x, alpha);
  return out;
}

// The fused, non-differentiable gradient: only for backward passes that record nothing.
Tensor fused_grad(BinaryOp op, const Tensor& g, const Tensor& b, double alpha = 0) {
  Tensor out = empty(b.shape(), {b.dtype(), b.device()});
  kernels::binary(op, out, g, b, alpha);
  return out;
}

// 1 where x > 0, else 0, in x's dtype: a constant (no history).
Tensor positive_mask(const Tensor& x) { return to_dtype(greater(x, 0.0), x.dtype()); }

}  // namespace

Tensor relu(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Relu, x, "relu");
  record("relu", {x}, out, [sx = save(x)](const BackwardContext& ctx) {
    const Tensor& x = sx.get("relu");
    if (!ctx.create_graph()) return TensorList{fused_grad(BinaryOp::ReluGrad, ctx.grad(), x)};
    return TensorList{ctx.grad() * positive_mask(x)};
  });
  return out;
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  Tensor out = unary_forward(UnaryOp::LeakyRelu, x, "leaky_relu", negative_slope);
  record("leaky_relu", {x}, out, [sx = save(x), negative_slope](const BackwardContext& ctx) {
    const Tensor& x = sx.get("leaky_relu");
    if (!ctx.create_graph())
      return TensorList{fused_grad(BinaryOp::LeakyReluGrad, ctx.grad(), x, negative_slope)};
    const TensorOptions options{x.dtype(), x.device()};
    const Tensor slope = where(greater(x, 0.0), ones({}, options), full({}, negative_slope, options));
    return TensorList{ctx.grad() * slope};
  });
  return out;
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Sigmoid, x, "sigmoid");
  record("sigmoid", {x}, out, [](const BackwardContext& ctx) {
    const Tensor y = ctx.output();
    if (!ctx.create_graph()) return TensorList{fused_grad(BinaryOp::SigmoidGrad, ctx.grad(), y)};
    return TensorList{ctx.grad() * (y * (1.0 - y))};
  }, DoubleBackward::Yes, SaveOutput::Yes);
  return out;
}

Tensor silu(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Silu, x, "silu");
  record("silu", {x}, out, [sx = save(x)](const BackwardContext& ctx) {
    const Tensor& x = sx.get("silu");
    if (!ctx.create_graph()) return TensorList{fused_grad(BinaryOp::SiluGrad, ctx.grad(), x)};
    const Tensor s = sigmoid(x);
    return TensorList{ctx.grad() * (s + x * (s * (1.0 - s)))};
  });
  return out;
}

Tensor softplus(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Softplus, x, "softplus");
  record("softplus", {x}, out, [sx = save(x)](const BackwardContext& ctx) {
    const Tensor& x = sx.get("softplus");
    if (!ctx.create_graph()) return TensorList{fused_grad(BinaryOp::SoftplusGrad, ctx.grad(), x)};
    return TensorList{ctx.grad() * sigmoid(x)};
  });
  return out;
}

Tensor tanh(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Tanh, x, "tanh");
  record("tanh", {x}, out, [](const BackwardContext& ctx) {
    const Tensor y = ctx.output();
    if (!ctx.create_graph()) return TensorList{fused_grad(BinaryOp::TanhGrad, ctx.grad(), y)};
    return TensorList{ctx.grad() * (1.0 - y * y)};
  }, DoubleBackward::Yes, SaveOutput::Yes);
  return out;
}

Tensor softmax(const Tensor& x, int64_t axis) {
  check_float_input(x, "softmax");
  axis = normalize_axis(axis, x.dim(), "softmax");
  Tensor out = empty(x.shape(), {x.dtype(), x.device()});
  kernels::softmax(out, x, axis);
  record("softmax", {x}, out, [axis](const BackwardContext& ctx) {
    const Tensor y = ctx.output();
    const Tensor& g = ctx.grad();
    return TensorList{y * (g - sum(g * y, {axis}, true))};
  }, DoubleBackward::Yes, SaveOutput::Yes);
  return out;
}

Tensor log_softmax(const Tensor& x, int64_t axis) {
  check_float_input(x, "log_softmax");
  axis = normalize_axis(axis, x.dim(), "log_softmax");
  Tensor out = empty(x.shape(), {x.dtype(), x.device()});
  kernels::log_softmax(out, x, axis);
  record("log_softmax", {x}, out, [axis](const BackwardContext& ctx) {
    const Tensor y = ctx.output();
    const Tensor& g = ctx.grad();
    return TensorList{g - exp(y) * sum(g, {axis}, true)};
  }, DoubleBackward::Yes, SaveOutput::Yes);
  return out;
}

}  // namespace ember
