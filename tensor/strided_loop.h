// A row-major walk over a shape with K strided operands: the one loop behind strided copies and
// broadcast elementwise kernels on the CPU. fn(offsets) receives the element offset of each
// operand; the innermost dimension runs as a tight loop, outer ones carry like an odometer.
#pragma once
#include <array>
#include <cstdint>

#include "tensor/shape.h"

namespace ember {

template <size_t K, typename Fn>
void for_each_strided(const Shape& shape, const std::array<const int64_t*, K>& strides, Fn&& fn) {
  const int64_t ndim = static_cast<int64_t>(shape.size());
  for (int64_t d : shape) if (d == 0) return;
  std::array<int64_t, K> offsets{};
  if (ndim == 0) { fn(offsets); return; }
  const int64_t inner = shape[ndim - 1];
  std::array<int64_t, K> inner_stride;
  for (size_t k = 0; k < K; ++k) inner_stride[k] = strides[k][ndim - 1];
  Shape counter(ndim, 0);
  while (true) {
    std::array<int64_t, K> o = offsets;
    for (int64_t i = 0; i < inner; ++i) {
      fn(o);
      for (size_t k = 0; k < K; ++k) o[k] += inner_stride[k];
    }
    int64_t d = ndim - 2;  // carry into the outer dimensions
    for (; d >= 0; --d) {
      for (size_t k = 0; k < K; ++k) offsets[k] += strides[k][d];
      if (++counter[d] < shape[d]) break;
      for (size_t k = 0; k < K; ++k) offsets[k] -= strides[k][d] * shape[d];
      counter[d] = 0;
    }
    if (d < 0) return;
  }
}

}  // namespace ember
