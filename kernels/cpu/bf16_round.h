// The CPU reference of the bfloat16 precision (kernels/precision.h): rounding float32 values to
// the nearest bfloat16 (ties to even, as ember::bfloat16 in tensor/dtype.h and the GPU copies
// do) while keeping them in float32, so the float32 kernels then compute exactly "bf16
// operands, float32 accumulation". Tested through tests/test_mixed_precision.cpp.
#pragma once
#include "tensor/tensor.h"

namespace ember::kernels::cpu {

// A new contiguous float32 tensor holding t's values rounded to bfloat16 (t: contiguous
// float32). Not a counted dispatch: it is part of the kernel that calls it.
Tensor rounded_to_bf16(const Tensor& t);
// Rounds a contiguous float32 tensor's values to bfloat16 in place.
void round_to_bf16_(const Tensor& t);

}  // namespace ember::kernels::cpu
