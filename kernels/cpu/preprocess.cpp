// CPU reference of the input preprocessing kernel (kernels/preprocess.h): the per-channel
// factors once, then one pass over the pixels with the shared formula of
// kernels/preprocess_math.h. Tested in tests/test_preprocess.cpp.
#include <cstdint>
#include <vector>

#include "kernels/preprocess.h"
#include "kernels/preprocess_math.h"

namespace ember::kernels::cpu {

namespace {

template <typename In, typename T>
void rescale_normalize_typed(const Tensor& out, const Tensor& x, T scale, T offset,
                             const Tensor& mean, const Tensor& variance, T eps) {
  const int64_t channels = x.size(-1);
  std::vector<T> shift(static_cast<size_t>(channels), T(0)), factor(shift.size(), T(1));
  if (mean.defined()) {
    const T* m = mean.data<T>();      // [C]
    const T* v = variance.data<T>();  // [C]
    for (int64_t c = 0; c < channels; ++c) {
      shift[c] = m[c];
      factor[c] = pointwise::normalization_factor<pointwise::CpuMath>(v[c], eps);
    }
  }
  const In* in = x.data<In>();  // [P, C], contiguous
  T* o = out.data<T>();         // [P, C], contiguous
  const int64_t pixels = channels == 0 ? 0 : x.numel() / channels;
  const bool has_offset = offset != T(0);
#pragma omp parallel for if (pixels > 16384)
  for (int64_t p = 0; p < pixels; ++p)
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t i = p * channels + c;
      o[i] = pointwise::rescale_normalize_element(static_cast<T>(in[i]), scale, offset,
                                                  has_offset, shift[c], factor[c]);
    }
}

}  // namespace

void rescale_normalize(const Tensor& out, const Tensor& x, double scale, double offset,
                       const Tensor& mean, const Tensor& variance, double eps) {
  dispatch_float(out.dtype(), "rescale_normalize", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T s = static_cast<T>(scale), o = static_cast<T>(offset), e = static_cast<T>(eps);
    if (x.dtype() == DType::UInt8)
      rescale_normalize_typed<uint8_t, T>(out, x, s, o, mean, variance, e);
    else
      rescale_normalize_typed<T, T>(out, x, s, o, mean, variance, e);
  });
}

}  // namespace ember::kernels::cpu
