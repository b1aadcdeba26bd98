// Device dispatch for normalisation kernels (contract: kernels/norm.h).
#include "kernels/norm.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void batch_norm_forward_training(const Tensor& y, const Tensor& mean, const Tensor& var,
                                 const Tensor& invstd, const Tensor& x, const Tensor& weight,
                                 const Tensor& bias, double eps) {
  if (x.is_cuda()) {
#ifdef EMBER_WITH_CUDA
    EMBER_ON_DEVICE_OF(x);
    cuda::batch_norm_forward_training(y, mean, var, invstd, x, weight, bias, eps);
    return;
#else
    no_cuda_kernel("batch_norm (training forward)");
#endif
  }
  cpu::batch_norm_forward_training(y, mean, var, invstd, x, weight, bias, eps);
}

void batch_norm_forward_inference(const Tensor& y, const Tensor& x, const Tensor& weight,
                                  const Tensor& bias, const Tensor& running_mean,
                                  const Tensor& running_var, double eps) {
  if (x.is_cuda()) {
#ifdef EMBER_WITH_CUDA
    EMBER_ON_DEVICE_OF(x);
    cuda::batch_norm_forward_inference(y, x, weight, bias, running_mean, running_var, eps);
    return;
#else
    no_cuda_kernel("batch_norm (inference forward)");
#endif
  }
  cpu::batch_norm_forward_inference(y, x, weight, bias, running_mean, running_var, eps);
}

void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd) {
  if (x.is_cuda()) {
#ifdef EMBER_WITH_CUDA
    EMBER_ON_DEVICE_OF(x);
    cuda::batch_norm_backward(dx, dweight, dbias, dy, x, weight, mean, invstd);
    return;
#else
    no_cuda_kernel("batch_norm (backward)");
#endif
  }
  cpu::batch_norm_backward(dx, dweight, dbias, dy, x, weight, mean, invstd);
}

void batch_norm_update_running_stats(const Tensor& running_mean, const Tensor& running_var,
                                     const Tensor& mean, const Tensor& var, double momentum,
                                     int64_t count, bool unbiased_var) {
  if (mean.is_cuda()) {
#ifdef EMBER_WITH_CUDA
    EMBER_ON_DEVICE_OF(mean);
    cuda::batch_norm_update_running_stats(running_mean, running_var, mean, var, momentum, count,
                                       unbiased_var);
    return;
#else
    no_cuda_kernel("batch_norm (running statistics update)");
#endif
  }
  cpu::batch_norm_update_running_stats(running_mean, running_var, mean, var, momentum, count,
                                       unbiased_var);
}

void layer_norm_forward(const Tensor& y, const Tensor& mean, const Tensor& invstd,
                        const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  if (x.is_cuda()) {
#ifdef EMBER_WITH_CUDA
    EMBER_ON_DEVICE_OF(x);
    cuda::layer_norm_forward(y, mean, invstd, x, weight, bias, eps);
    return;
#else
    no_cuda_kernel("layer_norm (forward)");
#endif
  }
  cpu::layer_norm_forward(y, mean, invstd, x, weight, bias, eps);
}

void layer_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd) {
  if (x.is_cuda()) {
#ifdef EMBER_WITH_CUDA
    EMBER_ON_DEVICE_OF(x);
    cuda::layer_norm_backward(dx, dweight, dbias, dy, x, weight, mean, invstd);
    return;
#else
    no_cuda_kernel("layer_norm (backward)");
#endif
  }
  cpu::layer_norm_backward(dx, dweight, dbias, dy, x, weight, mean, invstd);
}

}  // namespace ember::kernels
