// Rounding float32 tensors through bfloat16 on the CPU (contract: kernels/cpu/bf16_round.h).
#include "kernels/cpu/bf16_round.h"

#include "tensor/dtype.h"

namespace ember::kernels::cpu {

namespace {

void round_values(float* dst, const float* src, int64_t n) {
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(bfloat16(src[i]));
}

void check_float32(const Tensor& t, const char* what) {
  EMBER_CHECK(t.dtype() == DType::Float32 && t.is_contiguous() && !t.is_cuda(), what,
              ": expected a contiguous float32 CPU tensor, got ", t.describe());
}

}  // namespace

Tensor rounded_to_bf16(const Tensor& t) {
  check_float32(t, "rounded_to_bf16");
  Tensor r = empty(t.shape(), {DType::Float32, t.device()});
  round_values(r.data<float>(), t.data<float>(), t.numel());
  return r;
}

void round_to_bf16_(const Tensor& t) {
  check_float32(t, "round_to_bf16_");
  round_values(t.data<float>(), t.data<float>(), t.numel());
}

}  // namespace ember::kernels::cpu
