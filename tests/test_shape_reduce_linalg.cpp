// Views, reductions and matrix products: values, storage sharing, gradients of both orders.
#include <gtest/gtest.h>

#include "tests/gradcheck.h"

namespace ember {
namespace {

using testing::random_input;

Tensor iota(const Shape& shape) {
  std::vector<double> v(numel_of(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  return from_vector(v, shape, {.dtype = DType::Float64});
}

TEST(Views, ShareStorageAndVersion) {
  Tensor x = iota({2, 3});
  Tensor t = transpose(x, 0, 1);
  Tensor s = slice(x, 1, 1, 3);
  Tensor e = expand(slice(x, 0, 0, 1), {4, 3});
  EXPECT_EQ(t.storage(), x.storage());
  EXPECT_EQ(s.storage(), x.storage());
  EXPECT_EQ(e.strides()[0], 0);
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.to_vector<double>(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(s.to_vector<double>(), (std::vector<double>{1, 2, 4, 5}));
  const uint64_t before = x.version();
  fill_(s, 7.0);
  EXPECT_GT(x.version(), before);
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{0, 7, 7, 3, 7, 7}));
}

TEST(Views, ReshapeOfNonContiguousCopies) {
  Tensor x = iota({2, 3});
  Tensor r = reshape(transpose(x, 0, 1), {6});
  EXPECT_EQ(r.to_vector<double>(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_THROW(reshape(x, {4}), Error);
  EXPECT_EQ(reshape(x, {-1, 2}).shape(), (Shape{3, 2}));
}

TEST(Views, SliceWithStepAndNegativeBounds) {
  Tensor x = iota({7});
  EXPECT_EQ(slice(x, 0, 1, 7, 2).to_vector<double>(), (std::vector<double>{1, 3, 5}));
  EXPECT_EQ(slice(x, 0, -3, 7).to_vector<double>(), (std::vector<double>{4, 5, 6}));
}

TEST(Views, Gradchecks) {
  const Tensor x = random_input({2, 3, 4}, 31);
  EXPECT_GRADCHECK([](const TensorList& t) { return reshape(t[0], {4, 6}); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return reshape(permute(t[0], {2, 0, 1}), {-1}); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return slice(t[0], 2, 1, 4, 2); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return expand(slice(t[0], 1, 0, 1), {2, 5, 4}); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return concat({t[0], mul(t[0], t[0])}, 1); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return unsqueeze(flatten(t[0]), 0); }, {x});
  EXPECT_GRADGRADCHECK([](const TensorList& t) {
    return mul(permute(t[0], {1, 0, 2}), permute(t[0], {1, 0, 2}));
  }, {x});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { Tensor s = slice(t[0], 0, 1, 2); return mul(s, s); }, {x});
}

TEST(Reduce, Values) {
  Tensor x = iota({2, 3, 2});
  EXPECT_EQ(sum(x).item<double>(), 66);
  EXPECT_EQ(sum(x, {1}).to_vector<double>(), (std::vector<double>{6, 9, 24, 27}));
  EXPECT_EQ(sum(x, {0, 2}, true).shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(sum(x, {0, 2}).to_vector<double>(), (std::vector<double>{14, 22, 30}));
  EXPECT_EQ(mean(x, {-1}).to_vector<double>(), (std::vector<double>{0.5, 2.5, 4.5, 6.5, 8.5, 10.5}));
  EXPECT_EQ(amax(x, {1}).to_vector<double>(), (std::vector<double>{4, 5, 10, 11}));
  EXPECT_EQ(argmax(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{2, 2, 2, 2}));
  EXPECT_EQ(sum(transpose(x, 0, 2), {2}).to_vector<double>(), (std::vector<double>{6, 10, 14, 8, 12, 16}));
  EXPECT_THROW(sum(x, {3}), Error);
  EXPECT_THROW(sum(x, {1, 1}), Error);
}

TEST(Reduce, FloatSumIsAccurate) {
  // 1e6 values of 0.1f: a naive float accumulator drifts far; ours accumulates in double.
  Tensor x = full({1000000}, 0.1);
  EXPECT_NEAR(sum(x).item<float>(), 100000.0f, 1.0f);
}

TEST(Reduce, Gradchecks) {
  const Tensor x = random_input({3, 4, 2}, 32);
  EXPECT_GRADCHECK([](const TensorList& t) { return sum(t[0], {1}); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return mean(t[0], {0, 2}, true); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return amax(t[0], {1}); }, {x});
  EXPECT_GRADCHECK([](const TensorList& t) { return sum_to(t[0], {4, 1}); }, {x});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return mul(sum(t[0], {2}), sum(t[0], {2})); }, {x});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return pow(mean(t[0], {0}), 2.0); }, {x});
}

TEST(Reduce, AmaxSharesTiedGradient) {
  Tensor x = from_vector<double>({1, 3, 3, 0}, {4}, {.dtype = DType::Float64, .requires_grad = true});
  TensorList g = grad({amax(x)}, {x});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{0, 0.5, 0.5, 0}));
}

TEST(Linalg, MatmulValues) {
  Tensor a = iota({2, 3});
  Tensor b = iota({3, 2});
  EXPECT_EQ(matmul(a, b).to_vector<double>(), (std::vector<double>{10, 13, 28, 40}));
  // A transposed view goes to the BLAS as a transpose flag.
  EXPECT_EQ(matmul(transpose(b, 0, 1), transpose(a, 0, 1)).to_vector<double>(),
            (std::vector<double>{10, 28, 13, 40}));
  Tensor batched = matmul(reshape(iota({2, 2, 3}), {2, 2, 3}), reshape(iota({2, 3, 2}), {2, 3, 2}));
  EXPECT_EQ(batched.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(batched.to_vector<double>()[7], 9 * 7 + 10 * 9 + 11 * 11 + 0.0);
  EXPECT_THROW(matmul(a, a), Error);
}

TEST(Linalg, Float32Matmul) {
  Tensor a = full({4, 5}, 0.5);
  Tensor b = full({5, 3}, 2.0);
  EXPECT_TRUE(allclose(matmul(a, b), full({4, 3}, 5.0)));
}

TEST(Linalg, Gradchecks) {
  const Tensor a = random_input({3, 4}, 33), b = random_input({4, 2}, 34);
  const Tensor ba = random_input({2, 3, 4}, 35), bb = random_input({2, 4, 2}, 36);
  const Tensor x = random_input({2, 3, 4}, 37), w = random_input({5, 4}, 38), bias = random_input({5}, 39);
  EXPECT_GRADCHECK([](const TensorList& t) { return matmul(t[0], t[1]); }, {a, b});
  EXPECT_GRADCHECK([](const TensorList& t) { return matmul(t[0], t[1]); }, {ba, bb});
  EXPECT_GRADCHECK([](const TensorList& t) { return linear(t[0], t[1], t[2]); }, {x, w, bias});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return matmul(t[0], t[1]); }, {a, b});
  EXPECT_GRADGRADCHECK([](const TensorList& t) { return linear(t[0], t[1], t[2]); }, {x, w, bias});
}

TEST(Linalg, LinearShapeErrorsNameOperands) {
  Tensor x = zeros({2, 3});
  Tensor w = zeros({4, 5});
  try {
    linear(x, w);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("[4, 5]"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace ember
