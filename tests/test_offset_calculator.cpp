// The CUDA kernels' strided index math (kernels/cuda/offset_calculator.h), checked on the CPU
// against a plain row-major walk: coalescing must never change which element a linear index
// reaches, for contiguous, permuted, sliced and broadcast operands.
#include <gtest/gtest.h>

#include "kernels/cuda/offset_calculator.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using kernels::cuda::make_offset_calculator;

// Offset of linear index i in a tensor of `shape` with `strides`, the slow obvious way.
int64_t naive_offset(int64_t i, const Shape& shape, const Shape& strides) {
  int64_t off = 0;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    off += (i % shape[d]) * strides[d];
    i /= shape[d];
  }
  return off;
}

void expect_matches_naive(const Shape& shape, const std::array<Shape, 2>& strides) {
  const auto calc = make_offset_calculator<2>(shape, strides);
  for (int64_t i = 0; i < numel_of(shape); ++i) {
    int64_t got[2];
    calc.offsets(i, got);
    ASSERT_EQ(got[0], naive_offset(i, shape, strides[0])) << "operand 0, index " << i;
    ASSERT_EQ(got[1], naive_offset(i, shape, strides[1])) << "operand 1, index " << i;
  }
}

TEST(OffsetCalculator, ContiguousCoalescesToOneDimension) {
  const auto calc = make_offset_calculator<2>({2, 3, 4}, {Shape{12, 4, 1}, Shape{12, 4, 1}});
  EXPECT_EQ(calc.dims, 1);
  EXPECT_EQ(calc.sizes[0], 24);
  expect_matches_naive({2, 3, 4}, {Shape{12, 4, 1}, Shape{12, 4, 1}});
}

TEST(OffsetCalculator, BroadcastRowKeepsTwoDimensions) {
  // b is a [4] row broadcast over 3 rows: strides [0, 1].
  const auto calc = make_offset_calculator<2>({3, 4}, {Shape{4, 1}, Shape{0, 1}});
  EXPECT_EQ(calc.dims, 2);
  expect_matches_naive({3, 4}, {Shape{4, 1}, Shape{0, 1}});
}

TEST(OffsetCalculator, PermutedSlicedAndSizeOneDimensions) {
  // Operand 1 is a transposed [4, 3] viewed as [3, 4], operand 0 a slice with row stride 10.
  expect_matches_naive({3, 4}, {Shape{10, 1}, Shape{1, 3}});
  expect_matches_naive({2, 1, 3, 5}, {Shape{15, 15, 5, 1}, Shape{1, 99, 10, 2}});
  expect_matches_naive({2, 3, 2, 2}, {Shape{0, 4, 2, 1}, Shape{12, 1, 6, 3}});
}

TEST(OffsetCalculator, ScalarShapeHasNoDimensions) {
  const auto calc = make_offset_calculator<2>({}, {Shape{}, Shape{}});
  EXPECT_EQ(calc.dims, 0);
  int64_t got[2] = {7, 7};
  calc.offsets(0, got);
  EXPECT_EQ(got[0], 0);
  EXPECT_EQ(got[1], 0);
}

TEST(OffsetCalculator, TooManyUnmergeableDimensionsIsAClearError) {
  Shape shape(12, 2), a(12), b(12);
  for (int d = 0; d < 12; ++d) {
    a[d] = int64_t{1} << (2 * (11 - d));  // gaps between dims: nothing merges
    b[d] = int64_t{1} << (11 - d);
  }
  EXPECT_ERROR_MENTIONS(make_offset_calculator<2>(shape, {a, b}), "at most 10");
}

}  // namespace
}  // namespace ember
