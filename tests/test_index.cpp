// Indexing ops: gather / scatter_add and embedding / embedding_backward. Values against hand
// computations and naive loops, adjointness, determinism of the accumulating kernels, first and
// second order gradient checks, and error messages for bad indices.
#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "tests/expect_error.h"
#include "tests/gradcheck.h"

namespace ember {
namespace {

using testing::expect_error;

using testing::random_input;

const TensorOptions kF64{.dtype = DType::Float64};
const TensorOptions kI64{.dtype = DType::Int64};

Tensor indices(const std::vector<int64_t>& values, const Shape& shape) {
  return from_vector(values, shape, kI64);
}


TEST(Index, GatherValues) {
  Tensor x = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}, kF64);
  // Axis 1: out[i][j] = x[i][index[i][j]].
  EXPECT_EQ(gather(x, 1, indices({2, 0, 1, 1}, {2, 2})).to_vector<double>(),
            (std::vector<double>{3, 1, 5, 5}));
  // Axis 0 (and a negative axis): out[i][j] = x[index[i][j]][j]; index narrower than x.
  EXPECT_EQ(gather(x, -2, indices({1, 0, 0, 1}, {2, 2})).to_vector<double>(),
            (std::vector<double>{4, 2, 1, 5}));
  Tensor g = gather(x, 0, indices({1, 0}, {1, 2}));
  EXPECT_EQ(g.shape(), (Shape{1, 2}));
  EXPECT_EQ(g.to_vector<double>(), (std::vector<double>{4, 2}));
}

TEST(Index, GatherStridedOperandsMatchNaiveLoop) {
  // x is a transposed view [4, 3] of a [3, 4] tensor; index is a strided slice [4, 2].
  Tensor base = from_vector<double>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4}, kF64);
  Tensor x = transpose(base, 0, 1);
  Tensor wide = indices({2, 9, 0, 9, 1, 9, 1, 9, 0, 9, 2, 9, 2, 9, 2, 9}, {4, 4});
  Tensor index = slice(wide, 1, 0, 4, 2);
  ASSERT_FALSE(index.is_contiguous());
  const auto got = gather(x, 1, index).to_vector<double>();
  const auto iv = index.to_vector<int64_t>();
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 2; ++j)
      EXPECT_EQ(got[i * 2 + j], static_cast<double>(iv[i * 2 + j] * 4 + i));  // x[i][k] = base[k][i]
}

TEST(Index, ScatterAddAccumulatesRepeats) {
  Tensor src = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}, kF64);
  Tensor out = scatter_add({2, 4}, 1, indices({0, 0, 3, 1, 1, 1}, {2, 3}), src);
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{3, 0, 0, 3, 0, 15, 0, 0}));
  Tensor rows = scatter_add({3, 3}, 0, indices({2, 0, 2, 2, 0, 2}, {2, 3}), src);
  EXPECT_EQ(rows.to_vector<double>(), (std::vector<double>{0, 7, 0, 0, 0, 0, 5, 0, 9}));
}

TEST(Index, ScatterAddIsTheAdjointOfGather) {
  // <gather(x, idx), s> == <x, scatter_add(x.shape, idx, s)> for any x and s.
  Tensor x = random_input({3, 4, 2}, 1).detach();
  Tensor s = random_input({3, 5, 2}, 2).detach();
  Tensor idx = indices({0, 3, 3, 1, 2, 0, 0, 0, 1, 1, 2, 3, 3, 3, 1,
                        1, 2, 2, 0, 3, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0}, {3, 5, 2});
  const double lhs = sum(mul(gather(x, 1, idx), s)).item<double>();
  const double rhs = sum(mul(x, scatter_add(x.shape(), 1, idx, s))).item<double>();
  EXPECT_NEAR(lhs, rhs, 1e-12);
}

TEST(Index, EmbeddingValues) {
  Tensor w = from_vector<double>({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2}, kF64);
  Tensor out = embedding(w, indices({1, 3, 1, 0}, {2, 2}));
  EXPECT_EQ(out.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{10, 11, 30, 31, 10, 11, 0, 1}));
  // A transposed weight view and a scalar index.
  Tensor wt = transpose(from_vector<double>({0, 10, 20, 1, 11, 21}, {2, 3}, kF64), 0, 1);
  Tensor one = embedding(wt, indices({2}, {}));
  EXPECT_EQ(one.shape(), (Shape{2}));
  EXPECT_EQ(one.to_vector<double>(), (std::vector<double>{20, 21}));
}

TEST(Index, EmbeddingBackwardSumsRows) {
  Tensor g = from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2}, kF64);
  Tensor out = embedding_backward(g, indices({1, 3, 1, 1}, {2, 2}), 5);
  EXPECT_EQ(out.shape(), (Shape{5, 2}));
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{0, 0, 13, 16, 0, 0, 3, 4, 0, 0}));
}

TEST(Index, EmbeddingBackwardIsDeterministicAndSerialOrdered) {
  // Big enough for the OpenMP path: 600 rows of 150 columns into 7 rows. float32 sums depend on
  // their order, so matching a serial loop bit for bit shows the order is the index order.
  const int64_t n = 600, D = 150, V = 7;
  std::vector<float> gv(n * D);
  std::vector<int64_t> iv(n);
  for (int64_t r = 0; r < n; ++r) {
    iv[r] = (r * 5 + r / 7) % V;
    for (int64_t d = 0; d < D; ++d) gv[r * D + d] = 1.0f / static_cast<float>(1 + (r * 31 + d * 17) % 97);
  }
  Tensor g = from_vector(gv, {n, D});
  Tensor idx = indices(iv, {n});
  std::vector<float> expected(V * D, 0.0f);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t d = 0; d < D; ++d) expected[iv[r] * D + d] += gv[r * D + d];
  const auto first = embedding_backward(g, idx, V).to_vector<float>();
  const auto second = embedding_backward(g, idx, V).to_vector<float>();
  EXPECT_EQ(first, expected);
  EXPECT_EQ(first, second);
}

TEST(Index, Gradcheck) {
  const Tensor x = random_input({3, 4}, 3);
  const Tensor idx1 = indices({0, 3, 3, 1, 1, 1, 2, 0, 3}, {3, 3});  // repeats: grads accumulate
  const Tensor idx0 = indices({2, 0, 2, 1, 0, 0, 0, 2}, {2, 4});
  EXPECT_GRADCHECK([&](const TensorList& t) { return gather(t[0], 1, idx1); }, {x});
  EXPECT_GRADCHECK([&](const TensorList& t) { return gather(t[0], 0, idx0); }, {x});
  // Strided input: a transposed view.
  EXPECT_GRADCHECK([&](const TensorList& t) { return gather(transpose(t[0], 0, 1), 1, idx0); },
                   {random_input({3, 4}, 4)});
  const Tensor src = random_input({3, 3}, 5);
  EXPECT_GRADCHECK([&](const TensorList& t) { return scatter_add({3, 5}, 1, idx1, t[0]); }, {src});

  const Tensor w = random_input({5, 3}, 6);
  const Tensor tokens = indices({4, 0, 4, 2, 2, 2}, {2, 3});
  EXPECT_GRADCHECK([&](const TensorList& t) { return embedding(t[0], tokens); }, {w});
  EXPECT_GRADCHECK([&](const TensorList& t) { return embedding(transpose(t[0], 0, 1), tokens); },
                   {random_input({3, 5}, 7)});
  const Tensor g = random_input({2, 3, 3}, 8);
  EXPECT_GRADCHECK([&](const TensorList& t) { return embedding_backward(t[0], tokens, 5); }, {g});
}

TEST(Index, GradgradcheckThroughEachOther) {
  const Tensor x = random_input({3, 4}, 9);
  const Tensor idx = indices({0, 3, 3, 1, 1, 1, 2, 0, 3}, {3, 3});
  // Linear ops: the second derivative is the path R -> backward -> its backward.
  EXPECT_GRADGRADCHECK([&](const TensorList& t) { return gather(t[0], 1, idx); }, {x});
  EXPECT_GRADGRADCHECK([&](const TensorList& t) { return scatter_add({3, 4}, 1, idx, t[0]); },
                       {random_input({3, 3}, 10)});
  // Non-linear around them, so the double backward carries a real x-dependence.
  EXPECT_GRADGRADCHECK([&](const TensorList& t) { return gather(mul(t[0], t[0]), 1, idx); }, {x});

  const Tensor w = random_input({5, 3}, 11);
  const Tensor tokens = indices({4, 0, 4, 2}, {4});
  EXPECT_GRADGRADCHECK([&](const TensorList& t) { return embedding(t[0], tokens); }, {w});
  EXPECT_GRADGRADCHECK([&](const TensorList& t) { return mul(embedding(t[0], tokens), embedding(t[0], tokens)); },
                       {w});
  EXPECT_GRADGRADCHECK([&](const TensorList& t) { return embedding_backward(t[0], tokens, 5); },
                       {random_input({4, 3}, 12)});
}

TEST(Index, OutOfRangeIndexNamesValueAndRange) {
  Tensor x = zeros({2, 3}, kF64);
  expect_error([&] { gather(x, 1, indices({0, 5}, {2, 1})); },
               {"gather", "index 5", "[0, 3)", "float64[2, 3]"});
  expect_error([&] { gather(x, 0, indices({-1}, {1, 1})); }, {"gather", "index -1", "[0, 2)"});
  expect_error([&] { scatter_add({2, 3}, 1, indices({3, 0}, {2, 1}), zeros({2, 1}, kF64)); },
               {"scatter_add", "index 3", "[0, 3)"});
  Tensor w = zeros({4, 2}, kF64);
  expect_error([&] { embedding(w, indices({1, 4}, {2})); }, {"embedding", "index 4", "[0, 4)"});
  expect_error([&] { embedding_backward(zeros({2, 2}, kF64), indices({0, 7}, {2}), 4); },
               {"embedding_backward", "index 7", "[0, 4)"});
}

TEST(Index, BadOperandsAreClearErrors) {
  Tensor x = zeros({2, 3}, kF64);
  expect_error([&] { gather(x, 1, zeros({2, 1})); }, {"gather", "int64", "float32[2, 1]"});
  expect_error([&] { gather(x, 1, indices({0, 1}, {2})); }, {"gather", "rank"});
  expect_error([&] { gather(x, 1, indices({0, 1, 0}, {3, 1})); }, {"gather", "dimension 0"});
  expect_error([&] { gather(x, 2, indices({0, 1}, {2, 1})); }, {"gather", "axis 2"});
  expect_error([&] { scatter_add({2, 3}, 1, indices({0, 1}, {2, 1}), zeros({2, 2}, kF64)); },
               {"scatter_add", "shape of index"});
  expect_error([&] { embedding(zeros({4}, kF64), indices({0}, {1})); }, {"embedding", "[V, D]"});
  expect_error([&] { embedding(zeros({4, 2}, kF64), zeros({1}, {.dtype = DType::Int32})); },
               {"embedding", "int64", "int32"});
  expect_error([&] { embedding_backward(zeros({3, 2}, kF64), indices({0, 1}, {2}), 4); },
               {"embedding_backward", "[index..., D]"});
}

}  // namespace
}  // namespace ember
