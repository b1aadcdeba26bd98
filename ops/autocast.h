// The thread's precision scope for convolutions and matrix products, in the spirit of PyTorch's
// torch.autocast(dtype=torch.bfloat16) (design, affected ops and measured error:
// docs/mixed_precision.md).
//
//   {
//     ember::PrecisionScope bf16(ember::Precision::BFloat16);
//     loss = model(x);    // float32 conv2d / matmul / linear compute from bf16 operands
//   }
//   loss.backward();      // their backward runs in the precision their forward ran in
//
// Off (Float32) by default, so every op is exact fp32 unless a scope asks otherwise. Inside a
// BFloat16 scope the float32 convolutions (conv2d, conv2d_input_grad, conv2d_weight_grad,
// conv_transpose2d; depthwise ones excepted) and matrix products (matmul, linear) run with
// Precision::BFloat16 (kernels/precision.h); every tensor stays float32, so batch norm and its
// statistics, activations, losses, optimizers and the master weights are untouched. Each op
// records the precision it ran in and its backward runs in that precision too, whatever scope
// backward() is called in. Scopes nest and restore the previous precision on exit; they are per
// thread. Tested in tests/test_mixed_precision.cpp.
#pragma once
#include "kernels/precision.h"
#include "tensor/dtype.h"

namespace ember {

// The precision this thread's convolutions and matrix products run in now.
Precision autocast_precision();

// The precision an op on `dtype` operands runs in: BFloat16 only for float32 inside a BFloat16
// scope (float64, as in the gradient checks, is never lowered).
Precision autocast_precision_for(DType dtype);

class PrecisionScope {
 public:
  explicit PrecisionScope(Precision precision);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  Precision saved_;
};

}  // namespace ember
