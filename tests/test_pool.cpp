// Pooling and resampling ops (ops/pool.cpp): values against hand computations and naive loops,
// the adjoint identity between upsample_nearest and downsample_sum, first- and second-order
// gradient checks (including strided inputs), and argument errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/expect_error.h"
#include "tests/gradcheck.h"

namespace ember {
namespace {

using testing::random_input;

const TensorOptions kF64{.dtype = DType::Float64};

Tensor random_values(const Shape& shape, uint64_t seed) { return random_input(shape, seed).detach(); }


TEST(Pool, GlobalPoolsMatchNaiveLoops) {
  const Tensor x = random_values({2, 3, 2, 4}, 1);
  const auto v = x.to_vector<double>();
  std::vector<double> sums(2 * 4, 0.0);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t hw = 0; hw < 6; ++hw)
      for (int64_t c = 0; c < 4; ++c) sums[n * 4 + c] += v[(n * 6 + hw) * 4 + c];
  const Tensor s = global_sum_pool(x), a = global_avg_pool(x);
  EXPECT_EQ(s.shape(), (Shape{2, 4}));
  EXPECT_EQ(a.shape(), (Shape{2, 4}));
  const auto sv = s.to_vector<double>(), av = a.to_vector<double>();
  for (size_t i = 0; i < sums.size(); ++i) {
    EXPECT_NEAR(sv[i], sums[i], 1e-14);
    EXPECT_NEAR(av[i], sums[i] / 6, 1e-14);
  }
}

TEST(Pool, UpsampleNearestByHand) {
  // [1, 2, 2, 1] = [[1, 2], [3, 4]] upsampled by 2 x 3.
  const Tensor x = from_vector<double>({1, 2, 3, 4}, {1, 2, 2, 1}, kF64);
  const Tensor y = upsample_nearest(x, 2, 3);
  EXPECT_EQ(y.shape(), (Shape{1, 4, 6, 1}));
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{1, 1, 1, 2, 2, 2,  //
                                                        1, 1, 1, 2, 2, 2,  //
                                                        3, 3, 3, 4, 4, 4,  //
                                                        3, 3, 3, 4, 4, 4}));
  // Channels travel together: [1, 1, 1, 2] -> [1, 2, 2, 2].
  const Tensor xc = from_vector<double>({5, 6}, {1, 1, 1, 2}, kF64);
  EXPECT_EQ(upsample_nearest(xc, 2, 2).to_vector<double>(), (std::vector<double>{5, 6, 5, 6, 5, 6, 5, 6}));
}

TEST(Pool, DownsampleSumByHand) {
  // [1, 2, 4, 1] = [[0..3], [4..7]] summed over 2 x 2 blocks -> [[0+1+4+5, 2+3+6+7]].
  const Tensor x = from_vector<double>({0, 1, 2, 3, 4, 5, 6, 7}, {1, 2, 4, 1}, kF64);
  const Tensor y = downsample_sum(x, 2, 2);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 1}));
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{10, 18}));
  EXPECT_EQ(downsample_sum(x, 1, 4).to_vector<double>(), (std::vector<double>{6, 22}));
  // Downsampling an upsampled tensor multiplies it by the block size.
  const Tensor z = random_values({2, 3, 2, 3}, 2);
  EXPECT_LT(max_abs_diff(downsample_sum(upsample_nearest(z, 2, 3), 2, 3), mul_scalar(z, 6.0)), 1e-14);
}

TEST(Pool, UpsampleAndDownsampleAreAdjoint) {
  // <up(x), y> == <x, down(y)> for any x, y.
  const Tensor x = random_values({2, 3, 2, 4}, 3);
  const Tensor y = random_values({2, 6, 6, 4}, 4);
  const double lhs = sum(mul(upsample_nearest(x, 2, 3), y)).item<double>();
  const double rhs = sum(mul(x, downsample_sum(y, 2, 3))).item<double>();
  EXPECT_NEAR(lhs, rhs, 1e-12);
  EXPECT_GT(std::abs(lhs), 1e-3);
}

TEST(Pool, StridedInputsMatchContiguous) {
  // A permuted (non-contiguous) view gives the same result as its contiguous copy.
  const Tensor x = permute(random_values({3, 2, 4, 2}, 5), {1, 2, 3, 0});  // [2, 4, 2, 3]
  ASSERT_FALSE(x.is_contiguous());
  EXPECT_EQ(upsample_nearest(x, 2, 2).to_vector<double>(),
            upsample_nearest(x.contiguous(), 2, 2).to_vector<double>());
  EXPECT_EQ(downsample_sum(x, 2, 2).to_vector<double>(),
            downsample_sum(x.contiguous(), 2, 2).to_vector<double>());
  // A float32 input large enough for the parallel loops.
  const Tensor big = random_values({4, 32, 32, 16}, 6);
  const Tensor big32 = big.to(DType::Float32);
  EXPECT_LT(max_abs_diff(downsample_sum(upsample_nearest(big32, 2, 2), 2, 2).to(DType::Float64),
                         mul_scalar(big, 4.0)), 1e-5);
}

TEST(Pool, Gradcheck) {
  const Tensor x = random_input({2, 2, 3, 2}, 10);
  EXPECT_GRADCHECK([](const TensorList& t) { return global_avg_pool(t[0]); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return global_sum_pool(t[0]); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return upsample_nearest(t[0], 2, 3); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return downsample_sum(t[0], 2, 3); }, {x});
  // Strided input (permuted view).
  const Tensor xp = random_input({2, 2, 4, 2}, 11);
  EXPECT_GRADCHECK([](const TensorList& t) { return upsample_nearest(permute(t[0], {3, 1, 2, 0}), 1, 2); }, {xp});
  EXPECT_GRADCHECK([](const TensorList& t) { return downsample_sum(permute(t[0], {3, 1, 2, 0}), 2, 2); }, {xp});
}

TEST(Pool, Gradgradcheck) {
  const Tensor x = random_input({1, 2, 2, 2}, 20);
  // Squared so the second derivative in x is nonzero.
  EXPECT_GRADGRADCHECK([](const TensorList& t) { Tensor y = upsample_nearest(t[0], 2, 1); return mul(y, y); }, {x});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { Tensor y = downsample_sum(t[0], 2, 2); return mul(y, y); }, {x});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { Tensor y = global_avg_pool(t[0]); return mul(y, y); }, {x});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { Tensor y = global_sum_pool(t[0]); return mul(y, y); }, {x});
}

TEST(Pool, ArgumentErrors) {
  EXPECT_ERROR_MENTIONS(global_avg_pool(zeros({2, 3, 4})), "[N, H, W, C]");
  EXPECT_ERROR_MENTIONS(global_sum_pool(zeros({2, 3, 4, 5, 6})), "global_sum_pool");
  EXPECT_ERROR_MENTIONS(upsample_nearest(zeros({2, 3}), 2, 2), "upsample_nearest");
  EXPECT_ERROR_MENTIONS(upsample_nearest(zeros({1, 2, 2, 1}), 0, 2), "factors");
  EXPECT_ERROR_MENTIONS(downsample_sum(zeros({1, 2, 2, 1}), 2, -1), "factors");
  EXPECT_ERROR_MENTIONS(downsample_sum(zeros({1, 5, 4, 1}), 2, 2), "multiples");
  EXPECT_ERROR_MENTIONS(downsample_sum(zeros({3, 4, 4}), 2, 2), "[N, H, W, C]");
  EXPECT_ERROR_MENTIONS(upsample_nearest(zeros({1, 2, 2, 1}, {.dtype = DType::Int64}), 2, 2), "float32");
}

}  // namespace
}  // namespace ember
