// The fused squeeze-and-excite op (contract in ops/squeeze_excite.h): argument checks, the
// forward kernel, and its backward recorded next to it. Tested in
// tests/test_squeeze_excite.cpp (against the same block built of separate ops, and gradcheck).
#include "ops/squeeze_excite.h"

#include "autograd/function.h"
#include "kernels/squeeze_excite.h"
#include "ops/shape.h"
#include "tensor/error.h"

namespace ember {

namespace {

constexpr const char* kOp = "squeeze_excite";

// A contiguous tensor with the values of t (t itself when it already is).
Tensor dense(const Tensor& t) { return t.is_contiguous() ? t : convert(t, t.dtype(), t.device()); }

void check_args(const Tensor& h, const Tensor& w_reduce, const Tensor& b_reduce,
                const Tensor& w_expand, const Tensor& b_expand) {
  check_defined(h, kOp, "h");
  check_defined(w_reduce, kOp, "w_reduce");
  check_defined(b_reduce, kOp, "b_reduce");
  check_defined(w_expand, kOp, "w_expand");
  check_defined(b_expand, kOp, "b_expand");
  EMBER_CHECK(h.dtype() == DType::Float32 || h.dtype() == DType::Float64, kOp,
              ": expected a float32 or float64 h, got ", h.describe());
  EMBER_CHECK(h.dim() == 4 && h.size(1) * h.size(2) > 0, kOp,
              ": expected h of shape [N, H, W, C] with H * W > 0, got ", h.describe());
  for (const Tensor* t : {&w_reduce, &b_reduce, &w_expand, &b_expand}) {
    check_same_dtype(h, *t, kOp);
    check_same_device(h, *t, kOp);
  }
  const int64_t c = h.size(3);
  const int64_t r = w_reduce.dim() == 4 ? w_reduce.size(0) : -1;
  EMBER_CHECK(r > 0 && w_reduce.shape() == Shape({r, 1, 1, c}), kOp,
              ": w_reduce must have shape [R, 1, 1, ", c, "] (a 1x1 conv from h's ", c,
              " channels), got ", w_reduce.describe());
  EMBER_CHECK(b_reduce.shape() == Shape({r}), kOp, ": b_reduce must have shape [", r, "], got ",
              b_reduce.describe());
  EMBER_CHECK(w_expand.shape() == Shape({c, 1, 1, r}), kOp, ": w_expand must have shape [", c,
              ", 1, 1, ", r, "], got ", w_expand.describe());
  EMBER_CHECK(b_expand.shape() == Shape({c}), kOp, ": b_expand must have shape [", c, "], got ",
              b_expand.describe());
}

}  // namespace

Tensor squeeze_excite(const Tensor& h, const Tensor& w_reduce, const Tensor& b_reduce,
                      const Tensor& w_expand, const Tensor& b_expand) {
  check_args(h, w_reduce, b_reduce, w_expand, b_expand);
  const int64_t n = h.size(0), p = h.size(1) * h.size(2), c = h.size(3), r = w_reduce.size(0);
  const TensorOptions like{h.dtype(), h.device()};
  const Tensor h3 = reshape(dense(h).detach(), {n, p, c});
  const Tensor w1 = reshape(dense(w_reduce).detach(), {r, c});
  const Tensor w2 = reshape(dense(w_expand).detach(), {c, r});
  const Tensor b1 = dense(b_reduce).detach(), b2 = dense(b_expand).detach();
  Tensor y = empty(h.shape(), like);
  const Tensor pooled = empty({n, c}, like), z1 = empty({n, r}, like), gate = empty({n, c}, like);
  kernels::squeeze_excite_forward(reshape(y, {n, p, c}), pooled, z1, gate, h3, w1, b1, w2, b2);
  record(
      kOp, {h, w_reduce, b_reduce, w_expand, b_expand}, y,
      [sh = save(h3), sw1 = save(w1), sw2 = save(w2), pooled, z1, gate, h_shape = h.shape(), w_reduce_shape = w_reduce.shape(),
       w_expand_shape = w_expand.shape()](const BackwardContext& ctx) {
        const Tensor& h3 = sh.get(kOp);
        const Tensor& w1 = sw1.get(kOp);
        const Tensor& w2 = sw2.get(kOp);
        const Tensor dy = reshape(dense(ctx.grad()), h3.shape());
        const int64_t n = h3.size(0), c = h3.size(2), r = w1.size(0);
        const TensorOptions like{h3.dtype(), h3.device()};
        const Tensor dh = empty(h3.shape(), like), dz2 = empty({n, c}, like),
                     dz1 = empty({n, r}, like);
        kernels::squeeze_excite_backward_input(dh, dz2, dz1, dy, h3, z1, gate, w1, w2);
        TensorList grads{ctx.needs(0) ? reshape(dh, h_shape) : Tensor(), Tensor(), Tensor(),
                         Tensor(), Tensor()};
        if (ctx.needs(1) || ctx.needs(2) || ctx.needs(3) || ctx.needs(4)) {
          const Tensor dw1 = empty({r, c}, like), db1 = empty({r}, like),
                       dw2 = empty({c, r}, like), db2 = empty({c}, like);
          kernels::squeeze_excite_backward_weights(dw1, db1, dw2, db2, dz1, dz2, pooled, z1);
          grads[1] = reshape(dw1, w_reduce_shape);
          grads[2] = db1;
          grads[3] = reshape(dw2, w_expand_shape);
          grads[4] = db2;
        }
        return grads;
      },
      DoubleBackward::No);
  return y;
}

}  // namespace ember
