// CPU reference for nearest-neighbour upsampling and its adjoint, block-sum downsampling
// (contract: kernels/pool.h). Each output row (n, i) is written by one thread, and every output
// element sums its block in double, in a fixed order, so results are deterministic.
// Tested through ops in tests/test_pool.cpp.
#include <cstdint>

#include "kernels/pool.h"

namespace ember::kernels::cpu {

namespace {
constexpr int64_t kParallelWork = 32768;  // elements below which threads cost more than they save
}  // namespace

void upsample_nearest(const Tensor& out, const Tensor& x, int64_t factor_h, int64_t factor_w) {
  dispatch_float(x.dtype(), "upsample_nearest", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t N = out.shape()[0], Ho = out.shape()[1], Wo = out.shape()[2], C = out.shape()[3];
    const T* px = static_cast<const T*>(x.raw_data());  // [N, H, W, C], strides sx
    T* po = static_cast<T*>(out.raw_data());             // [N, Ho, Wo, C], contiguous
    const Shape& sx = x.strides();
#pragma omp parallel for if (out.numel() > kParallelWork)
    for (int64_t row = 0; row < N * Ho; ++row) {
      const int64_t n = row / Ho, i = row % Ho;
      const T* x_row = px + n * sx[0] + (i / factor_h) * sx[1];
      T* o_row = po + row * Wo * C;
      for (int64_t j = 0; j < Wo; ++j)
        for (int64_t c = 0; c < C; ++c) o_row[j * C + c] = x_row[(j / factor_w) * sx[2] + c * sx[3]];
    }
  });
}

void downsample_sum(const Tensor& out, const Tensor& x, int64_t factor_h, int64_t factor_w) {
  dispatch_float(x.dtype(), "downsample_sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t N = out.shape()[0], Ho = out.shape()[1], Wo = out.shape()[2], C = out.shape()[3];
    const T* px = static_cast<const T*>(x.raw_data());  // [N, Ho*fh, Wo*fw, C], strides sx
    T* po = static_cast<T*>(out.raw_data());             // [N, Ho, Wo, C], contiguous
    const Shape& sx = x.strides();
#pragma omp parallel for if (x.numel() > kParallelWork)
    for (int64_t row = 0; row < N * Ho; ++row) {
      const int64_t n = row / Ho, i = row % Ho;
      T* o_row = po + row * Wo * C;
      for (int64_t j = 0; j < Wo; ++j)
        for (int64_t c = 0; c < C; ++c) {
          double total = 0;
          for (int64_t a = 0; a < factor_h; ++a)
            for (int64_t b = 0; b < factor_w; ++b)
              total += px[n * sx[0] + (i * factor_h + a) * sx[1] + (j * factor_w + b) * sx[2] +
                          c * sx[3]];
          o_row[j * C + c] = static_cast<T>(total);
        }
    }
  });
}

}  // namespace ember::kernels::cpu
