// The arithmetic a convolution or matrix-product kernel performs on float32 tensors
// (docs/mixed_precision.md):
//   Float32:  float32 operands (exact fp32, or TF32 on CUDA when backend_settings().allow_tf32).
//   BFloat16: the operands rounded to bfloat16 (nearest even, as tensor/dtype.h converts),
//             products summed in float32. Convolutions round their result to bfloat16 as well
//             (cuDNN's bf16 configuration writes bf16); matrix products return it in float32.
// Tensors stay float32 either way; only what the kernel computes differs. ops/autocast.h decides
// which precision an op runs in. The CPU reference is kernels/cpu/bf16_round.h plus the float32
// kernels; tests/test_mixed_precision.cpp checks it against its definition.
#pragma once

namespace ember {

enum class Precision { Float32, BFloat16 };

inline const char* precision_name(Precision p) {
  return p == Precision::BFloat16 ? "bf16" : "fp32";
}

}  // namespace ember
