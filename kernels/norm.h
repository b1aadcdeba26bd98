// Contract for normalisation kernels (CPU: kernels/cpu/norm.cpp; CUDA: kernels/cuda/norm.cu).
// Matches PyTorch's batch_norm / layer_norm math (biased variance in the normalisation) and
// Keras's running-statistics convention. Tested through ops in tests/test_norm.cpp (CPU) and
// tests/test_cuda_norm.cpp (CUDA against the CPU).
//
// Layouts: batch norm sees x as [M, C] (NHWC flattened, M = N*H*W, channel last) and keeps one
// statistic per channel; layer norm sees x as [M, D] (D = the normalised trailing axes) and keeps
// one statistic per row. x, dy and every output are contiguous, preallocated, with x's dtype
// (float32 or float64); weight/bias may be undefined (then 1 and 0). Batch norm's [C] inputs
// (weight, bias, running statistics) may have any stride; layer norm's weight/bias are
// contiguous. Statistics accumulate in double, in a fixed order, so results do not depend on
// the thread count.
#pragma once
#include "tensor/tensor.h"

namespace ember::kernels {

// ---- Batch norm with an optional activation, fused (EfficientNet's BN + swish) ----------------
// z = (x - mean) * invstd * weight + bias, y = act(z): Identity (y = z) or Swish
// (y = z * sigmoid(z), kernels/elementwise_math.h). The backward recomputes z from x and the
// saved statistics, so nothing of size [M, C] is saved besides x. Derivation:
// docs/batch_norm_swish.md.
enum class NormActivation { Identity, Swish };

// The running statistics the training forward updates in place (Keras convention):
// running = momentum * running + (1 - momentum) * batch, the variance's batch value multiplied
// by count / (count - 1) when unbiased_var is set. mean and var are [C] of any stride, both
// defined or both undefined (then nothing is updated).
struct RunningStats {
  Tensor mean, var;
  double momentum = 0.99;
  bool unbiased_var = false;
};

// Training forward in two passes over x: the per-channel mean and biased variance in one pass
// (per block of rows, sums of x - k and (x - k)^2 in double about the block's first row k; the
// blocks' (count, mean, centred sum of squares) merged in block order, Chan et al.'s pairwise
// update, so the result does not depend on the thread count), then y = act(z) elementwise, in
// the tensor's dtype on per-channel constants (scale = invstd * weight from the stored invstd,
// so the backward recomputes the same z). Writes y [M, C], mean [C], invstd [C] and updates
// `running` from the batch mean and variance as stored in x's dtype.
void batch_norm_act_forward_training(const Tensor& y, const Tensor& mean, const Tensor& invstd,
                                     const Tensor& x, const Tensor& weight, const Tensor& bias,
                                     const RunningStats& running, double eps,
                                     NormActivation act);
// y = act((x - running_mean) * weight / sqrt(running_var + eps) + bias); z is computed as
// batch_norm_forward_inference computes y, so Identity gives the same bits.
void batch_norm_act_forward_inference(const Tensor& y, const Tensor& x, const Tensor& weight,
                                      const Tensor& bias, const Tensor& running_mean,
                                      const Tensor& running_var, double eps, NormActivation act);
// The fused training backward through act and batch norm. With z recomputed as in the forward,
// gz = dy * act'(z) (Identity: gz = dy), xhat = (x - mean) * invstd and n = M:
//   dbias = sum gz, dweight = sum gz * xhat,
//   dx = weight * invstd / n * (n * gz - dbias - xhat * dweight).
// One pass over (x, dy) for the sums, one for dx. bias is read only for Swish. Any of dx,
// dweight, dbias may be undefined (not computed).
void batch_norm_act_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                             const Tensor& dy, const Tensor& x, const Tensor& weight,
                             const Tensor& bias, const Tensor& mean, const Tensor& invstd,
                             NormActivation act);

// ---- Unfused batch norm (kept for bench/bench_norm_cuda.cpp and as the two-pass reference) -----

// y = (x - mean) * invstd * weight + bias with the batch's mean and biased variance.
// Writes y [M, C], mean [C], var [C] (biased, for the running update) and
// invstd [C] = 1 / sqrt(var + eps) (for backward).
void batch_norm_forward_training(const Tensor& y, const Tensor& mean, const Tensor& var,
                                 const Tensor& invstd, const Tensor& x, const Tensor& weight,
                                 const Tensor& bias, double eps);
// y = (x - running_mean) * weight / sqrt(running_var + eps) + bias.
void batch_norm_forward_inference(const Tensor& y, const Tensor& x, const Tensor& weight,
                                  const Tensor& bias, const Tensor& running_mean,
                                  const Tensor& running_var, double eps);
// The fused training backward, with xhat = (x - mean) * invstd and n = M:
//   dbias = sum dy, dweight = sum dy * xhat,
//   dx = weight * invstd / n * (n * dy - dbias - xhat * dweight).
// Any of dx, dweight, dbias may be undefined (not computed).
void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd);
// In place, [C] each: running = momentum * running + (1 - momentum) * batch,
// where the variance's batch value is var * count / (count - 1) when unbiased_var is set.
void batch_norm_update_running_stats(const Tensor& running_mean, const Tensor& running_var,
                                     const Tensor& mean, const Tensor& var, double momentum,
                                     int64_t count, bool unbiased_var);

// y = (x - mean_row) * invstd_row * weight + bias per row of [M, D]; writes y [M, D],
// mean [M] and invstd [M] = 1 / sqrt(biased var + eps). weight/bias are contiguous [D].
void layer_norm_forward(const Tensor& y, const Tensor& mean, const Tensor& invstd,
                        const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
// The fused backward, per row with g = dy * weight and xhat = (x - mean) * invstd:
//   dx = invstd * (g - mean_D(g) - xhat * mean_D(g * xhat)),
//   dweight = sum_M dy * xhat, dbias = sum_M dy.
// Any of dx, dweight, dbias may be undefined (not computed).
void layer_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd);

namespace cpu {
void batch_norm_act_forward_training(const Tensor& y, const Tensor& mean, const Tensor& invstd,
                                     const Tensor& x, const Tensor& weight, const Tensor& bias,
                                     const RunningStats& running, double eps,
                                     NormActivation act);
void batch_norm_act_forward_inference(const Tensor& y, const Tensor& x, const Tensor& weight,
                                      const Tensor& bias, const Tensor& running_mean,
                                      const Tensor& running_var, double eps, NormActivation act);
void batch_norm_act_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                             const Tensor& dy, const Tensor& x, const Tensor& weight,
                             const Tensor& bias, const Tensor& mean, const Tensor& invstd,
                             NormActivation act);
void batch_norm_forward_training(const Tensor& y, const Tensor& mean, const Tensor& var,
                                 const Tensor& invstd, const Tensor& x, const Tensor& weight,
                                 const Tensor& bias, double eps);
void batch_norm_forward_inference(const Tensor& y, const Tensor& x, const Tensor& weight,
                                  const Tensor& bias, const Tensor& running_mean,
                                  const Tensor& running_var, double eps);
void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd);
void batch_norm_update_running_stats(const Tensor& running_mean, const Tensor& running_var,
                                     const Tensor& mean, const Tensor& var, double momentum,
                                     int64_t count, bool unbiased_var);
void layer_norm_forward(const Tensor& y, const Tensor& mean, const Tensor& invstd,
                        const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
void layer_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd);
}  // namespace cpu

#ifdef EMBER_WITH_CUDA
namespace cuda {
void batch_norm_act_forward_training(const Tensor& y, const Tensor& mean, const Tensor& invstd,
                                     const Tensor& x, const Tensor& weight, const Tensor& bias,
                                     const RunningStats& running, double eps,
                                     NormActivation act);
void batch_norm_act_forward_inference(const Tensor& y, const Tensor& x, const Tensor& weight,
                                      const Tensor& bias, const Tensor& running_mean,
                                      const Tensor& running_var, double eps, NormActivation act);
void batch_norm_act_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                             const Tensor& dy, const Tensor& x, const Tensor& weight,
                             const Tensor& bias, const Tensor& mean, const Tensor& invstd,
                             NormActivation act);
void batch_norm_forward_training(const Tensor& y, const Tensor& mean, const Tensor& var,
                                 const Tensor& invstd, const Tensor& x, const Tensor& weight,
                                 const Tensor& bias, double eps);
void batch_norm_forward_inference(const Tensor& y, const Tensor& x, const Tensor& weight,
                                  const Tensor& bias, const Tensor& running_mean,
                                  const Tensor& running_var, double eps);
void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd);
void batch_norm_update_running_stats(const Tensor& running_mean, const Tensor& running_var,
                                     const Tensor& mean, const Tensor& var, double momentum,
                                     int64_t count, bool unbiased_var);
void layer_norm_forward(const Tensor& y, const Tensor& mean, const Tensor& invstd,
                        const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
void layer_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd);
}  // namespace cuda
#endif

}  // namespace ember::kernels
