// CPU reference for softmax and log_softmax along an axis (torch.softmax / torch.log_softmax).
// Each slice along the axis is independent: its maximum m is subtracted before exp (so exp never
// overflows), the normalizer s = sum exp(x - m) is accumulated in double, then
// softmax = exp(x - m) / s and log_softmax = x - m - log(s). Slices run in parallel; each one is
// computed serially, so results do not depend on the thread count. Tested in
// tests/test_activation.cpp.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/activation.h"
#include "tensor/strided_loop.h"

namespace ember::kernels::cpu {

namespace {

template <bool Log>
void softmax_impl(const Tensor& out, const Tensor& x, int64_t axis, const char* op) {
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = static_cast<T*>(out.raw_data());             // [x.shape], contiguous
    const T* px = static_cast<const T*>(x.raw_data());  // [x.shape], x.strides
    const int64_t n = x.shape()[axis];
    const int64_t xs = x.strides()[axis], os = out.strides()[axis];
    // The start of every slice: walk the shape with `axis` collapsed to 1.
    Shape outer = x.shape();
    outer[axis] = 1;
    std::vector<int64_t> x_start, o_start;
    x_start.reserve(numel_of(outer));
    o_start.reserve(numel_of(outer));
    for_each_strided<2>(outer, {x.strides().data(), out.strides().data()},
                        [&](const std::array<int64_t, 2>& off) {
                          x_start.push_back(off[0]);
                          o_start.push_back(off[1]);
                        });
    const int64_t slices = static_cast<int64_t>(x_start.size());
#pragma omp parallel for if (slices * n > 32768)
    for (int64_t s = 0; s < slices; ++s) {
      const T* xi = px + x_start[s];
      T* oi = o + o_start[s];
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t i = 0; i < n; ++i) m = std::max(m, xi[i * xs]);
      double total = 0;
      for (int64_t i = 0; i < n; ++i) total += std::exp(static_cast<double>(xi[i * xs] - m));
      if constexpr (Log) {
        const T log_total = static_cast<T>(std::log(total));
        for (int64_t i = 0; i < n; ++i) oi[i * os] = xi[i * xs] - m - log_total;
      } else {
        const double inv = 1.0 / total;
        for (int64_t i = 0; i < n; ++i)
          oi[i * os] = static_cast<T>(std::exp(static_cast<double>(xi[i * xs] - m)) * inv);
      }
    }
  });
}

}  // namespace

void softmax(const Tensor& out, const Tensor& x, int64_t axis) {
  softmax_impl<false>(out, x, axis, "softmax");
}

void log_softmax(const Tensor& out, const Tensor& x, int64_t axis) {
  softmax_impl<true>(out, x, axis, "log_softmax");
}

}  // namespace ember::kernels::cpu
