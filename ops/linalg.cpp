// Matrix products. For C = A B: dA = G B^T, dB = A^T G (both matmuls, so double backward works).
// linear(x, W, b) = x W^T + b is written with matmul on the flattened leading axes, so its
// backward is too (dx = G W, dW = G^T x, db = sum of G over rows).
// Inside a bf16 precision scope (ops/autocast.h) a float32 matmul runs with kernels'
// Precision::BFloat16, and its backward in the precision its forward ran in
// (docs/mixed_precision.md; tests/test_mixed_precision.cpp).
#include "ops/linalg.h"

#include "autograd/function.h"
#include "kernels/linalg.h"
#include "ops/autocast.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/shape.h"

namespace ember {

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_defined(a, "matmul", "a");
  check_defined(b, "matmul", "b");
  check_same_dtype(a, b, "matmul");
  check_same_device(a, b, "matmul");
  EMBER_CHECK((a.dim() == 2 && b.dim() == 2) || (a.dim() == 3 && b.dim() == 3), "matmul: expects two ",
              "2-D or two 3-D tensors, got ", a.describe(), " and ", b.describe());
  const bool batched = a.dim() == 3;
  const int64_t batch = batched ? a.size(0) : 1;
  EMBER_CHECK(!batched || b.size(0) == batch, "matmul: batch sizes differ: ", a.describe(), " and ",
              b.describe());
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  EMBER_CHECK(b.size(-2) == K, "matmul: inner dimensions differ: ", a.describe(), " and ", b.describe());
  // A transposed view (stride pattern of a transpose) is handed to the BLAS as trans_a/trans_b
  // instead of being copied.
  auto as_operand = [](const Tensor& t, bool& trans) {
    const int64_t r = t.dim();
    if (t.is_contiguous()) { trans = false; return t; }
    Tensor swapped = transpose(t, r - 2, r - 1);
    if (swapped.is_contiguous()) { trans = true; return swapped; }
    trans = false;
    return contiguous(t);
  };
  bool ta = false, tb = false;
  Tensor ca, cb;
  {
    NoGradGuard no_grad;  // operand preparation is not part of the graph: matmul records below
    ca = as_operand(a, ta);
    cb = as_operand(b, tb);
  }
  Shape shape = batched ? Shape{batch, M, N} : Shape{M, N};
  const Precision precision = autocast_precision_for(a.dtype());
  Tensor out = empty(shape, {a.dtype(), a.device()});
  kernels::gemm(out, ca, cb, ta, tb, batch, M, N, K, precision);
  record("matmul", {a, b}, out,
         [sa = save(b.requires_grad() ? a : Tensor()), sb = save(a.requires_grad() ? b : Tensor()),
          precision](const BackwardContext& ctx) {
           const PrecisionScope scope(precision);
           const Tensor& g = ctx.grad();
           const int64_t r = g.dim();
           return TensorList{
               ctx.needs(0) ? matmul(g, transpose(sb.get("matmul"), r - 2, r - 1)) : Tensor(),
               ctx.needs(1) ? matmul(transpose(sa.get("matmul"), r - 2, r - 1), g) : Tensor()};
         });
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_defined(x, "linear", "x");
  check_defined(weight, "linear", "weight");
  EMBER_CHECK(weight.dim() == 2, "linear: weight must be [out, in], got ", weight.describe());
  EMBER_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: input ", x.describe(),
              " does not end in the weight's input size ", weight.size(1), " (weight ",
              weight.describe(), ")");
  Shape out_shape = x.shape();
  out_shape.back() = weight.size(0);
  Tensor rows = reshape(x, {-1, weight.size(1)});
  Tensor y = matmul(rows, transpose(weight, 0, 1));
  if (bias.defined()) {
    EMBER_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear: bias ", bias.describe(),
                " does not match weight ", weight.describe());
    y = y + bias;
  }
  return reshape(y, out_shape);
}

}  // namespace ember
