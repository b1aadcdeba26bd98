// The CPU-vs-CUDA tolerance of the elementwise ops (kernels/cuda/elementwise.cu), shared by
// test_cuda_elementwise.cpp and the ops with their own test file (test_softplus.cpp).
#pragma once
#include "tests/device_compare.h"

namespace ember::testing {

// float32: CUDA's expf/logf/tanhf/powf are within 2 ulp of glibc's, and composites (silu, the
// gradients) chain a few such steps: 2e-6 relative is ~16 ulp. float64: the same few ulp at
// 2.2e-16 each; 1e-12 leaves room for the chained gradient formulas and the double-accumulated
// sum_to reductions, yet catches any wrong formula or index.
inline DeviceCompareOptions elementwise_options(DType dtype, bool double_backward = true) {
  return options_by_dtype(dtype, {{1e-12, 1e-14}, {1e-12, 1e-13}, {1e-11, 1e-12}},
                          {{2e-6, 1e-7}, {1e-5, 1e-6}, {1e-4, 1e-5}}, double_backward);
}

}  // namespace ember::testing
