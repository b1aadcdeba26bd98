// CPU reference for the fused optimizer updates (contract: kernels/optim.h): a parallel loop
// over the elements applying the shared per-element formula of kernels/optim_step.h. Elements
// are independent, so the thread count does not change the result.
// Tested in tests/test_optim.cpp (suites SgdKernel, AdamKernel).
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/optim.h"
#include "kernels/optim_step.h"

namespace ember::kernels::cpu {

namespace {
constexpr int64_t kParallelWork = 32768;  // elements below which threads cost more than they save

// Adam over elements [0, n) of float32 buffers, the same per-element formula as every other
// path, compiled for x86-64-v3 (AVX2 + FMA: 4 doubles per instruction) and the baseline; the
// loader picks the clone the CPU runs (GCC's target_clones).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void adam_f32(float* __restrict p, const float* __restrict g, float* __restrict m,
              float* __restrict v, const optim_step::AdamCoefficients k, int64_t n) {
  for (int64_t i = 0; i < n; ++i) optim_step::adam(p[i], g[i], m[i], v[i], k);
}
}  // namespace

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step) {
  const optim_step::SgdCoefficients k{lr, momentum, dampening, weight_decay, nesterov, first_step};
  dispatch_float(param.dtype(), "sgd_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = param.numel();
    T* p = static_cast<T*>(param.raw_data());       // [n]
    const T* g = static_cast<const T*>(grad.raw_data());  // [n]
    T* b = momentum != 0.0 ? static_cast<T*>(momentum_buffer.raw_data()) : nullptr;  // [n]
#pragma omp parallel for if (n > kParallelWork)
    for (int64_t i = 0; i < n; ++i) optim_step::sgd(p[i], g[i], b ? b + i : nullptr, k);
  });
}

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, int64_t step) {
  const optim_step::AdamCoefficients k =
      optim_step::adam_coefficients(lr, beta1, beta2, eps, weight_decay, decoupled, step);
  dispatch_float(param.dtype(), "adam_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = param.numel();
    T* p = static_cast<T*>(param.raw_data());             // [n]
    const T* g = static_cast<const T*>(grad.raw_data());  // [n]
    T* m = static_cast<T*>(exp_avg.raw_data());           // [n]
    T* v = static_cast<T*>(exp_avg_sq.raw_data());        // [n]
    if constexpr (std::is_same_v<T, float>) {
      // One contiguous block per thread, each through the cloned loop.
#pragma omp parallel if (n > kParallelWork)
      {
        const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t block = (n + threads - 1) / threads;
        const int64_t begin = std::min(n, t * block), end = std::min(n, begin + block);
        if (begin < end) adam_f32(p + begin, g + begin, m + begin, v + begin, k, end - begin);
      }
      return;
    }
#pragma omp parallel for if (n > kParallelWork)
    for (int64_t i = 0; i < n; ++i) optim_step::adam(p[i], g[i], m[i], v[i], k);
  });
}

}  // namespace ember::kernels::cpu
