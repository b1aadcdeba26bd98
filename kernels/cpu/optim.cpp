// CPU reference for the fused optimizer updates (contract: kernels/optim.h): a parallel loop
// over the elements applying the shared per-element formula of kernels/optim_step.h. Elements
// are independent, so the thread count does not change the result.
// Tested in tests/test_optim.cpp (suites SgdKernel, AdamKernel).
#include <cstdint>

#include "kernels/optim.h"
#include "kernels/optim_step.h"

namespace ember::kernels::cpu {

namespace {
constexpr int64_t kParallelWork = 32768;  // elements below which threads cost more than they save
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
#pragma omp parallel for if (n > kParallelWork)
    for (int64_t i = 0; i < n; ++i) optim_step::adam(p[i], g[i], m[i], v[i], k);
  });
}

}  // namespace ember::kernels::cpu
