// CUDA fused optimizer updates (contract: kernels/optim.h): one grid-stride kernel per parameter
// applying the per-element formula of kernels/optim_step.h, the very code the CPU reference
// (kernels/cpu/optim.cpp) runs. Results match the CPU to rounding: nvcc may contract a * b + c
// into an fma where the host compiler does not. Tested in tests/test_cuda_optim.cpp.
#include <cstdint>

#include "kernels/optim.h"
#include "kernels/optim_step.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {

constexpr int kThreads = 256;

// p, g, b [n] contiguous; b is null when momentum == 0.
template <typename T>
__global__ void sgd_kernel(T* p, const T* g, T* b, int64_t n, optim_step::SgdCoefficients k) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    optim_step::sgd(p[i], g[i], b ? b + i : nullptr, k);
}

// p, g, m, v [n] contiguous.
template <typename T>
__global__ void adam_kernel(T* p, const T* g, T* m, T* v, int64_t n,
                            optim_step::AdamCoefficients k) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    optim_step::adam(p[i], g[i], m[i], v[i], k);
}

}  // namespace

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step) {
  const optim_step::SgdCoefficients k{lr, momentum, dampening, weight_decay, nesterov, first_step};
  const int64_t n = param.numel();
  if (n == 0) return;
  dispatch_float(param.dtype(), "sgd_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* b = momentum != 0.0 ? static_cast<T*>(momentum_buffer.raw_data()) : nullptr;
    sgd_kernel<T><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                    ::ember::cuda::compute_stream()>>>(static_cast<T*>(param.raw_data()),
                                                       static_cast<const T*>(grad.raw_data()), b,
                                                       n, k);
    EMBER_CUDA_CHECK_LAUNCH("sgd_kernel");
  });
}

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, int64_t step) {
  const optim_step::AdamCoefficients k =
      optim_step::adam_coefficients(lr, beta1, beta2, eps, weight_decay, decoupled, step);
  const int64_t n = param.numel();
  if (n == 0) return;
  dispatch_float(param.dtype(), "adam_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    adam_kernel<T><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                     ::ember::cuda::compute_stream()>>>(
        static_cast<T*>(param.raw_data()), static_cast<const T*>(grad.raw_data()),
        static_cast<T*>(exp_avg.raw_data()), static_cast<T*>(exp_avg_sq.raw_data()), n, k);
    EMBER_CUDA_CHECK_LAUNCH("adam_kernel");
  });
}

}  // namespace ember::kernels::cuda
