// The naive convolution every conv kernel is checked against (tests/test_conv.cpp and the
// validation step of bench/bench_conv_cpu.cpp): a 7-deep loop over (n, p, q, k, r, s, c) that
// calls fn(x_index, w_index, y_index) for every filter tap landing inside the input; and
// params_of, the conv tests' way to write a case's Conv2dParams.
// x: [N, H, W, C], w: [K, R, S, C / groups], y: [N, P, Q, K].
#pragma once
#include <cstdint>

#include "ops/conv.h"

namespace ember::testing {

// Stride, padding (top, bottom, left, right) and groups as one Conv2dParams (the conv tests'
// cases).
inline Conv2dParams params_of(int64_t stride_h, int64_t stride_w, int64_t top, int64_t bottom,
                              int64_t left, int64_t right, int64_t groups = 1) {
  Conv2dParams p;
  p.stride_h = stride_h, p.stride_w = stride_w, p.groups = groups;
  p.pad_top = top, p.pad_bottom = bottom, p.pad_left = left, p.pad_right = right;
  return p;
}

inline int64_t conv_out_size(int64_t in, int64_t pad_a, int64_t pad_b, int64_t k, int64_t stride) {
  return (in + pad_a + pad_b - k) / stride + 1;
}

template <typename Fn>
void for_each_conv_tap(int64_t N, int64_t H, int64_t W, int64_t C, int64_t K, int64_t R,
                       int64_t S, const Conv2dParams& pr, Fn&& fn) {
  const int64_t P = conv_out_size(H, pr.pad_top, pr.pad_bottom, R, pr.stride_h);
  const int64_t Q = conv_out_size(W, pr.pad_left, pr.pad_right, S, pr.stride_w);
  const int64_t Cg = C / pr.groups, Kg = K / pr.groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q)
        for (int64_t k = 0; k < K; ++k)
          for (int64_t r = 0; r < R; ++r)
            for (int64_t s = 0; s < S; ++s)
              for (int64_t c = 0; c < Cg; ++c) {
                const int64_t h = p * pr.stride_h - pr.pad_top + r;
                const int64_t w = q * pr.stride_w - pr.pad_left + s;
                if (h < 0 || h >= H || w < 0 || w >= W) continue;
                fn(((n * H + h) * W + w) * C + (k / Kg) * Cg + c,  // x index
                   ((k * R + r) * S + s) * Cg + c,                 // w index
                   ((n * P + p) * Q + q) * K + k);                 // y index
              }
}

}  // namespace ember::testing
