// CUDA fused cross-entropy (contract: kernels/loss.h; reference: kernels/cpu/loss.cpp, same
// formulas in the same precision). Forward: one block per sample (32 threads for C <= 1024,
// else 256), fixed-order block reductions for the max, the normaliser and the smoothing sum.
// Backward: one thread per logit, the closed form scale * (softmax * S_i - coef). Scale and the
// weight sum are read from device memory, so a training step never waits for the host. A target
// outside [0, C) is found by kernels/cuda/range_check.h's check kernel, recorded as the device's
// error (tensor/cuda/device_errors.h: thrown at the next host sync with the CPU's message), and
// the forward kernel gives that sample a NaN loss rather than read out of bounds.
// Tested against the CPU (and the CPU against the composite op) in tests/test_cuda_loss.cpp.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/range_check.h"
#include "kernels/loss.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {

constexpr int kThreads = 256;

template <typename T>
struct CrossEntropyArgs {
  const T* x;             // [N, C], strides sn, sc
  long long N, C;
  int64_t sn, sc;
  const int64_t* target;  // [N], stride st
  int64_t st;
  const T* weight;        // [C], stride sw; null: all ones
  int64_t sw;
  double eps;
};

template <typename T>
__device__ __forceinline__ double weight_at(const CrossEntropyArgs<T>& a, long long c) {
  return a.weight ? static_cast<double>(a.weight[c * a.sw]) : 1.0;
}

// loss, target_weight: [N] contiguous; lse: [N] contiguous double.
template <typename T>
__global__ void cross_entropy_forward_kernel(CrossEntropyArgs<T> a, T* loss, T* target_weight,
                                             double* lse) {
  __shared__ T shared_max[32];
  __shared__ double shared_sum[32];
  for (long long i = blockIdx.x; i < a.N; i += gridDim.x) {
    const T* row = a.x + i * a.sn;
    T m = -INFINITY;
    for (long long c = threadIdx.x; c < a.C; c += blockDim.x) m = MaxKeepFirst{}(m, row[c * a.sc]);
    m = block_all_reduce(m, MaxKeepFirst{}, T(-INFINITY), shared_max);
    double s = 0;
    for (long long c = threadIdx.x; c < a.C; c += blockDim.x)
      s += ::exp(static_cast<double>(row[c * a.sc] - m));
    s = block_all_reduce(s, PlusDouble{}, 0.0, shared_sum);
    const double l = static_cast<double>(m) + ::log(s);
    double smooth = 0;
    if (a.eps > 0) {  // uniform across the block: every thread joins the reduction
      for (long long c = threadIdx.x; c < a.C; c += blockDim.x)
        smooth += weight_at(a, c) * (l - static_cast<double>(row[c * a.sc]));
      smooth = block_all_reduce(smooth, PlusDouble{}, 0.0, shared_sum);
    }
    if (threadIdx.x == 0) {
      const long long t = a.target[i * a.st];
      lse[i] = l;
      if (t < 0 || t >= a.C) {  // recorded by the range check; keep the loss visibly wrong too
        loss[i] = static_cast<T>(NAN);
        target_weight[i] = static_cast<T>(NAN);
      } else {
        const double wt = weight_at(a, t);
        const double total = (1.0 - a.eps) * wt * (l - static_cast<double>(row[t * a.sc])) +
                             a.eps / static_cast<double>(a.C) * smooth;
        loss[i] = static_cast<T>(total);
        target_weight[i] = static_cast<T>(wt);
      }
    }
  }
}

// grad: [N, C] contiguous; lse: [N]; scale, weight_sum: one element each (device).
template <typename T>
__global__ void cross_entropy_backward_kernel(CrossEntropyArgs<T> a, T* grad, const double* lse,
                                              const T* scale, const T* weight_sum) {
  const double k = static_cast<double>(*scale);
  const double smooth = a.eps / static_cast<double>(a.C) * static_cast<double>(*weight_sum);
  const long long n = a.N * a.C;
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < n;
       idx += (long long)gridDim.x * blockDim.x) {
    const long long i = idx / a.C, c = idx % a.C;
    const long long t = a.target[i * a.st];
    const bool valid = t >= 0 && t < a.C;
    const double wt = valid ? weight_at(a, t) : NAN;
    const double S = (1.0 - a.eps) * wt + smooth;
    const double p = ::exp(static_cast<double>(a.x[i * a.sn + c * a.sc]) - lse[i]);
    double coef = a.eps / static_cast<double>(a.C) * weight_at(a, c);
    if (c == t) coef += (1.0 - a.eps) * wt;
    grad[idx] = static_cast<T>(k * (p * S - coef));
  }
}

template <typename T>
CrossEntropyArgs<T> args_of(const Tensor& x, const Tensor& target, const Tensor& weight, double eps) {
  CrossEntropyArgs<T> a{};
  a.x = static_cast<const T*>(x.raw_data());
  a.N = x.shape()[0];
  a.C = x.shape()[1];
  a.sn = x.strides()[0];
  a.sc = x.strides()[1];
  a.target = target.data<int64_t>();
  a.st = target.strides()[0];
  a.weight = weight.defined() ? static_cast<const T*>(weight.raw_data()) : nullptr;
  a.sw = weight.defined() ? weight.strides()[0] : 0;
  a.eps = eps;
  return a;
}

}  // namespace

void cross_entropy_forward(const Tensor& loss, const Tensor& target_weight, const Tensor& lse,
                           const Tensor& x, const Tensor& target, const Tensor& weight, double eps) {
  const long long N = x.shape()[0], C = x.shape()[1];
  if (N == 0) return;
  EMBER_CHECK(C > 0, "cross_entropy: no classes in ", x.describe());
  // The first bad label (smallest sample), as the CPU's message names it: value, sample, C.
  check_index_range(target, C, DeviceErrorCode::CrossEntropyTarget, 0);
  dispatch_float(x.dtype(), "cross_entropy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int threads = C <= 1024 ? 32 : kThreads;
    const unsigned blocks = static_cast<unsigned>(std::min(N, 1LL << 30));
    cross_entropy_forward_kernel<T><<<blocks, threads, 0, ::ember::cuda::compute_stream()>>>(
        args_of<T>(x, target, weight, eps), static_cast<T*>(loss.raw_data()),
        static_cast<T*>(target_weight.raw_data()), lse.data<double>());
    EMBER_CUDA_CHECK_LAUNCH("cross_entropy_forward_kernel");
  });
}

void cross_entropy_backward(const Tensor& grad, const Tensor& x, const Tensor& target,
                            const Tensor& weight, const Tensor& lse, const Tensor& scale,
                            const Tensor& weight_sum, double eps) {
  const long long n = x.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), "cross_entropy backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    cross_entropy_backward_kernel<T><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                                       ::ember::cuda::compute_stream()>>>(
        args_of<T>(x, target, weight, eps), static_cast<T*>(grad.raw_data()), lse.data<double>(),
        static_cast<const T*>(scale.raw_data()), static_cast<const T*>(weight_sum.raw_data()));
    EMBER_CUDA_CHECK_LAUNCH("cross_entropy_backward_kernel");
  });
}

}  // namespace ember::kernels::cuda
