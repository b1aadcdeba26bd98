// Elementwise ops: forward kernel call, then the backward recorded right next to it.
// Derivatives: d(a+b) = 1, 1; d(a*b) = b, a; d(a/b) = 1/b, -a/b^2; d(x^p) = p x^(p-1);
// d sqrt = 1/(2 sqrt x); d rsqrt = -1/2 x^(-3/2); d exp = exp; d log = 1/x; d|x| = sign(x).
// Broadcast inputs get their gradient summed back to their shape (sum_to).
#include "ops/elementwise.h"

#include <cmath>

#include "autograd/function.h"
#include "kernels/elementwise.h"
#include "ops/reduce.h"

namespace ember {

using kernels::BinaryOp;
using kernels::UnaryOp;

namespace {

Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  check_defined(a, name, "a");
  check_defined(b, name, "b");
  check_same_device(a, b, name);
  check_same_dtype(a, b, name);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty(shape, {op == BinaryOp::Equal ? DType::UInt8 : a.dtype(), a.device()});
  kernels::binary(op, out, a, b);
  return out;
}

Tensor unary_forward(UnaryOp op, const Tensor& x, const char* name, double alpha = 0,
                     double beta = 0, DType out_dtype = DType::Float32, bool mask = false) {
  check_defined(x, name, "x");
  Tensor out = empty(x.shape(), {mask ? out_dtype : x.dtype(), x.device()});
  kernels::unary(op, out, x, alpha, beta);
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Add, a, b, "add");
  record("add", {a, b}, out, [sa = a.shape(), sb = b.shape()](const BackwardContext& ctx) {
    return TensorList{ctx.needs(0) ? sum_to(ctx.grad(), sa) : Tensor(),
                      ctx.needs(1) ? sum_to(ctx.grad(), sb) : Tensor()};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Sub, a, b, "sub");
  record("sub", {a, b}, out, [sa = a.shape(), sb = b.shape()](const BackwardContext& ctx) {
    return TensorList{ctx.needs(0) ? sum_to(ctx.grad(), sa) : Tensor(),
                      ctx.needs(1) ? sum_to(-ctx.grad(), sb) : Tensor()};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Mul, a, b, "mul");
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  // Save only what backward reads: b for a's gradient, a for b's.
  record("mul", {a, b}, out,
         [sa = save(gb ? a : Tensor()), sb = save(ga ? b : Tensor()), shape_a = a.shape(),
          shape_b = b.shape()](const BackwardContext& ctx) {
           return TensorList{ctx.needs(0) ? sum_to(ctx.grad() * sb.get("mul"), shape_a) : Tensor(),
                             ctx.needs(1) ? sum_to(ctx.grad() * sa.get("mul"), shape_b) : Tensor()};
         });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Div, a, b, "div");
  record("div", {a, b}, out,
         [sa = save(a), sb = save(b)](const BackwardContext& ctx) {
           const Tensor& a = sa.get("div");
           const Tensor& b = sb.get("div");
           return TensorList{
               ctx.needs(0) ? sum_to(ctx.grad() / b, a.shape()) : Tensor(),
               ctx.needs(1) ? sum_to(-(ctx.grad() * a / (b * b)), b.shape()) : Tensor()};
         });
  return out;
}

Tensor neg(const Tensor& a) {
  Tensor out = unary_forward(UnaryOp::Neg, a, "neg");
  record("neg", {a}, out, [](const BackwardContext& ctx) { return TensorList{-ctx.grad()}; });
  return out;
}

Tensor add_scalar(const Tensor& a, double s) {
  Tensor out = unary_forward(UnaryOp::AddScalar, a, "add_scalar", s);
  record("add_scalar", {a}, out, [](const BackwardContext& ctx) { return TensorList{ctx.grad()}; });
  return out;
}

Tensor mul_scalar(const Tensor& a, double s) {
  Tensor out = unary_forward(UnaryOp::MulScalar, a, "mul_scalar", s);
  record("mul_scalar", {a}, out,
         [s](const BackwardContext& ctx) { return TensorList{ctx.grad() * s}; });
  return out;
}

Tensor reciprocal(const Tensor& a) {
  Tensor out = unary_forward(UnaryOp::Reciprocal, a, "reciprocal");
  record("reciprocal", {a}, out, [](const BackwardContext& ctx) {
    const Tensor y = ctx.output();  // d(1/x) = -1/x^2 = -y^2
    return TensorList{-(ctx.grad() * (y * y))};
  }, DoubleBackward::Yes, SaveOutput::Yes);
  return out;
}

Tensor pow(const Tensor& a, double exponent) {
  Tensor out = unary_forward(UnaryOp::Pow, a, "pow", exponent);
  record("pow", {a}, out, [sa = save(a), exponent](const BackwardContext& ctx) {
    if (exponent == 0.0) return TensorList{zeros_like(ctx.grad())};
    const Tensor& x = sa.get("pow");
    return TensorList{ctx.grad() * (pow(x, exponent - 1.0) * exponent)};
  });
  return out;
}

Tensor sqrt(const Tensor& a) {
  Tensor out = unary_forward(UnaryOp::Sqrt, a, "sqrt");
  record("sqrt", {a}, out, [](const BackwardContext& ctx) {
    return TensorList{ctx.grad() * 0.5 / ctx.output()};
  }, DoubleBackward::Yes, SaveOutput::Yes);
  return out;
}

Tensor rsqrt(const Tensor& a) {
  Tensor out = unary_forward(UnaryOp::Rsqrt, a, "rsqrt");
  record("rsqrt", {a}, out, [](const BackwardContext& ctx) {
    const Tensor y = ctx.output();  // d x^(-1/2) = -1/2 x^(-3/2) = -1/2 y^3
    return TensorList{ctx.grad() * (pow(y, 3.0) * -0.5)};
  }, DoubleBackward::Yes, SaveOutput::Yes);
  return out;
}

Tensor exp(const Tensor& a) {
  Tensor out = unary_forward(UnaryOp::Exp, a, "exp");
  record("exp", {a}, out, [](const BackwardContext& ctx) {
    return TensorList{ctx.grad() * ctx.output()};
  }, DoubleBackward::Yes, SaveOutput::Yes);
  return out;
}

Tensor log(const Tensor& a) {
  Tensor out = unary_forward(UnaryOp::Log, a, "log");
  record("log", {a}, out, [sa = save(a)](const BackwardContext& ctx) {
    return TensorList{ctx.grad() / sa.get("log")};
  });
  return out;
}

Tensor abs(const Tensor& a) {
  Tensor out = unary_forward(UnaryOp::Abs, a, "abs");
  record("abs", {a}, out, [sa = save(a)](const BackwardContext& ctx) {
    return TensorList{ctx.grad() * sign(sa.get("abs"))};
  });
  return out;
}

Tensor clamp(const Tensor& a, double lo, double hi) {
  EMBER_CHECK(!(lo > hi), "clamp: lower bound ", lo, " is above upper bound ", hi);
  Tensor out = unary_forward(UnaryOp::Clamp, a, "clamp", lo, hi);
  record("clamp", {a}, out, [sa = save(a), lo, hi](const BackwardContext& ctx) {
    // The gradient passes where the input was strictly inside the bounds.
    Tensor inside = unary_forward(UnaryOp::InsideMask, sa.get("clamp"), "clamp", lo, hi);
    return TensorList{ctx.grad() * inside};
  });
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined(cond, "where", "cond");
  check_defined(a, "where", "a");
  check_defined(b, "where", "b");
  check_same_dtype(a, b, "where");
  check_same_device(a, b, "where");
  check_same_device(cond, a, "where");
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"),
                                       b.shape(), "where");
  Tensor out = empty(shape, {a.dtype(), a.device()});
  kernels::where(out, cond, a, b);
  record("where", {a, b}, out,
         [sc = save(cond), sa = a.shape(), sb = b.shape()](const BackwardContext& ctx) {
           const Tensor& c = sc.get("where");
           const Tensor zero = zeros({}, {ctx.grad().dtype(), ctx.grad().device()});
           return TensorList{ctx.needs(0) ? sum_to(where(c, ctx.grad(), zero), sa) : Tensor(),
                             ctx.needs(1) ? sum_to(where(c, zero, ctx.grad()), sb) : Tensor()};
         });
  return out;
}

Tensor greater(const Tensor& a, double s) {
  return unary_forward(UnaryOp::GreaterScalar, a, "greater", s, 0, DType::UInt8, true);
}
Tensor less(const Tensor& a, double s) {
  return unary_forward(UnaryOp::LessScalar, a, "less", s, 0, DType::UInt8, true);
}
Tensor equal(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Equal, a, b, "equal"); }
Tensor sign(const Tensor& a) { return unary_forward(UnaryOp::Sign, a, "sign"); }

void add_(const Tensor& self, const Tensor& other, double alpha) {
  check_defined(self, "add_", "self");
  check_defined(other, "add_", "other");
  check_same_device(self, other, "add_");
  check_same_dtype(self, other, "add_");
  EMBER_CHECK(broadcast_shapes(self.shape(), other.shape(), "add_") == self.shape(),
              "add_: ", other.describe(), " cannot be broadcast into ", self.describe());
  EMBER_CHECK(!(GradMode::enabled() && self.requires_grad()),
              "add_: in-place update of ", self.describe(), ", which requires grad, while grad "
              "mode is on; wrap the update in a NoGradGuard");
  kernels::add_inplace(self, other, alpha);
  self.bump_version();
}

void mul_(const Tensor& self, double s) {
  check_defined(self, "mul_", "self");
  EMBER_CHECK(!(GradMode::enabled() && self.requires_grad()), "mul_: in-place update of ",
              self.describe(), ", which requires grad, while grad mode is on");
  kernels::unary(UnaryOp::MulScalar, self, self, s);
  self.bump_version();
}

}  // namespace ember
