// CUDA input preprocessing kernel (kernels/preprocess.h): one grid-stride pass from the pixels
// (uint8 or float) to the model's float type, the formula of kernels/preprocess_math.h that the
// CPU runs too. Each thread computes its channel's factor from the variance itself (a square
// root and a division, cheap beside the memory traffic), so the statistics stay on the device
// and no host synchronisation is needed. Tested against the CPU in tests/test_preprocess.cpp.
#include <cstdint>

#include "kernels/preprocess.h"
#include "kernels/preprocess_math.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {

constexpr int kThreads = 256;

// x, out: [n / channels, channels] contiguous; mean, variance: [channels], or null for none.
template <typename In, typename T>
__global__ void rescale_normalize_kernel(T* out, const In* x, long long n, int channels, T scale,
                                         T offset, bool has_offset, const T* mean,
                                         const T* variance, T eps) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const int c = static_cast<int>(i % channels);
    const T shift = mean ? mean[c] : T(0);
    const T factor =
        mean ? pointwise::normalization_factor<pointwise::CudaMath>(variance[c], eps) : T(1);
    out[i] = pointwise::rescale_normalize_element(static_cast<T>(x[i]), scale, offset,
                                                  has_offset, shift, factor);
  }
}

template <typename In, typename T>
void launch(const Tensor& out, const Tensor& x, T scale, T offset, const Tensor& mean,
            const Tensor& variance, T eps) {
  const long long n = out.numel();
  if (n == 0) return;
  rescale_normalize_kernel<In, T><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                                    ::ember::cuda::compute_stream()>>>(
      out.data<T>(), x.data<In>(), n, static_cast<int>(x.size(-1)), scale, offset,
      offset != T(0), mean.defined() ? mean.data<T>() : nullptr,
      variance.defined() ? variance.data<T>() : nullptr, eps);
  EMBER_CUDA_CHECK_LAUNCH("rescale_normalize_kernel");
}

}  // namespace

void rescale_normalize(const Tensor& out, const Tensor& x, double scale, double offset,
                       const Tensor& mean, const Tensor& variance, double eps) {
  dispatch_float(out.dtype(), "rescale_normalize", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T s = static_cast<T>(scale), o = static_cast<T>(offset), e = static_cast<T>(eps);
    if (x.dtype() == DType::UInt8)
      launch<uint8_t, T>(out, x, s, o, mean, variance, e);
    else
      launch<T, T>(out, x, s, o, mean, variance, e);
  });
}

}  // namespace ember::kernels::cuda
