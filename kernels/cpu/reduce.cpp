// CPU reference reductions. One walk over x in its row-major order; each element lands in the
// output slot whose stride is 0 along reduced axes. Sums use a double accumulator buffer.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/reduce.h"
#include "tensor/strided_loop.h"

namespace ember::kernels::cpu {

namespace {
// Output strides seen from x: 0 on axes where out has size 1 but x does not.
Shape reduced_strides(const Tensor& out, const Tensor& x) {
  Shape s = out.strides();
  for (int64_t d = 0; d < x.dim(); ++d) if (out.shape()[d] == 1) s[d] = 0;
  return s;
}
}  // namespace

void sum(const Tensor& out, const Tensor& x) {
  dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.raw_data());
    std::vector<double> acc(out.numel(), 0.0);
    if (out.numel() == 1) {
      double total = 0;
      if (x.is_contiguous()) for (int64_t i = 0; i < x.numel(); ++i) total += px[i];
      else for_each_strided<1>(x.shape(), {x.strides().data()},
                               [&](const std::array<int64_t, 1>& o) { total += px[o[0]]; });
      acc[0] = total;
    } else {
      const Shape so = reduced_strides(out, x);
      for_each_strided<2>(x.shape(), {x.strides().data(), so.data()},
                          [&](const std::array<int64_t, 2>& o) { acc[o[1]] += px[o[0]]; });
    }
    T* po = static_cast<T*>(out.raw_data());
    for (int64_t i = 0; i < out.numel(); ++i) po[i] = static_cast<T>(acc[i]);
  });
}

void amax(const Tensor& out, const Tensor& x) {
  dispatch_float(x.dtype(), "amax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.raw_data());
    T* po = static_cast<T*>(out.raw_data());
    for (int64_t i = 0; i < out.numel(); ++i) po[i] = -std::numeric_limits<T>::infinity();
    const Shape so = reduced_strides(out, x);
    for_each_strided<2>(x.shape(), {x.strides().data(), so.data()},
                        [&](const std::array<int64_t, 2>& o) {
                          const T v = px[o[0]];
                          T& slot = po[o[1]];
                          if (std::isnan(slot)) return;  // NaN propagates: once NaN, stays NaN
                          if (std::isnan(v) || v > slot) slot = v;
                        });
  });
}

void argmax(const Tensor& out, const Tensor& x, int64_t axis) {
  dispatch_float(x.dtype(), "argmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.raw_data());
    int64_t* po = out.data<int64_t>();
    // Walk every position except along `axis` (shape 1 there), then scan the axis.
    Shape outer = x.shape();
    const int64_t n = outer[axis];
    outer[axis] = 1;
    const int64_t step = x.strides()[axis];
    Shape out_strides = contiguous_strides(outer);
    for_each_strided<2>(outer, {x.strides().data(), out_strides.data()},
                        [&](const std::array<int64_t, 2>& o) {
                          int64_t best = 0;
                          T best_v = px[o[0]];
                          for (int64_t i = 1; i < n; ++i) {
                            const T v = px[o[0] + i * step];
                            if (v > best_v) { best_v = v; best = i; }
                          }
                          po[o[1]] = best;
                        });
  });
}

}  // namespace ember::kernels::cpu
