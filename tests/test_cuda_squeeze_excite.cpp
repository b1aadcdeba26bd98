// The CUDA fused squeeze-and-excite (kernels/cuda/squeeze_excite.cu) against the CPU reference,
// through ops/squeeze_excite.h: forward and all five gradients in float32 and float64, on the
// shapes of EfficientNetB2's blocks at 64x64 inputs (narrow early layers with many positions,
// wide late ones with few) and a batch of one. Skipped without a GPU.
//
// Tolerances: both devices sum the same rounded values in double, in a different order (the GPU's
// warp butterflies against the CPU's loops), so float32 results may differ by a rounding of a
// stored intermediate (rtol 1e-5), float64 by the double sums' reassociation error.
#include <gtest/gtest.h>

#include <vector>

#include "ops/squeeze_excite.h"
#include "tests/device_compare.h"

namespace ember {
namespace {

using testing::random_tensor;

struct SeCase {
  int64_t n, h, w, c, r;
};

const std::vector<SeCase> kCases = {
    {4, 32, 32, 32, 8},    // B2's first block: C below the block size, 1024 positions
    {2, 8, 8, 288, 12},    // a middle block
    {3, 2, 2, 2112, 88},   // the widest block, C * R weights, 4 positions
    {1, 3, 5, 40, 10},     // one sample, odd sizes
};

TEST(CudaSqueezeExcite, MatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (const SeCase& k : kCases) {
      const TensorList in = {random_tensor({k.n, k.h, k.w, k.c}, 1, dtype, -2.0, 2.0, true),
                             random_tensor({k.r, 1, 1, k.c}, 2, dtype, -0.3, 0.3, true),
                             random_tensor({k.r}, 3, dtype, -0.5, 0.5, true),
                             random_tensor({k.c, 1, 1, k.r}, 4, dtype, -0.3, 0.3, true),
                             random_tensor({k.c}, 5, dtype, -0.5, 0.5, true)};
      auto f = [](const TensorList& x) { return squeeze_excite(x[0], x[1], x[2], x[3], x[4]); };
      const auto options = testing::options_by_dtype(dtype, {{1e-10, 1e-10}, {1e-10, 1e-9}, {}},
                                                     {{1e-5, 1e-5}, {1e-5, 1e-5}, {}}, false);
      EXPECT_CUDA_MATCHES_CPU(f, in, options)
          << "n " << k.n << ", " << k.h << "x" << k.w << ", c " << k.c << ", r " << k.r;
    }
  }
}

}  // namespace
}  // namespace ember
