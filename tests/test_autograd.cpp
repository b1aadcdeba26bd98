// The autograd engine: accumulation contract, graph retention, no-grad, saved-tensor versions,
// second derivatives and the loud failure of ops without double backward.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/function.h"
#include "tensor/dispatch_count.h"
#include "tests/gradcheck.h"

namespace ember {
namespace {

Tensor vec(std::vector<double> v, bool requires_grad = true) {
  const int64_t n = static_cast<int64_t>(v.size());
  return from_vector(v, {n}, {.dtype = DType::Float64, .requires_grad = requires_grad});
}

TEST(Autograd, BackwardAccumulatesIntoLeafGrad) {
  Tensor x = vec({1, 2, 3});
  sum(mul(x, x)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 4, 6}));
  sum(mul(x, x)).backward();  // a second pass adds
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, 8, 12}));
}

TEST(Autograd, BackwardAddsToASentinelInsteadOfOverwriting) {
  Tensor x = vec({1, 2});
  x.mutable_grad() = vec({100, 200}, false);
  sum(mul_scalar(x, 3.0)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{103, 203}));
}

// A leaf's first gradient becomes its .grad without a copy when nothing else holds it (the
// backward's own result), and is copied when something does: the caller's gradient tensor, or
// the graph's saved tensors under retain_graph.
TEST(Autograd, FirstGradientIsTakenOverOnlyWhenNothingElseHoldsIt) {
  Tensor x = vec({1, 2, 3});
  {
    DispatchTally tally;
    sum(mul_scalar(x, 3.0)).backward();
    for (const auto& [name, count] : tally.by_name()) EXPECT_NE(name, "copy") << count;
  }
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3, 3, 3}));

  Tensor leaf = vec({1, 2});
  Tensor held = vec({5, 6}, false);
  leaf.backward(held);  // the caller still holds `held`: .grad must not alias it
  EXPECT_NE(leaf.grad().raw_data(), held.raw_data());
  fill_(held, 0.0);
  EXPECT_EQ(leaf.grad().to_vector<double>(), (std::vector<double>{5, 6}));

  // mul's backward passes g * x; with retain_graph the graph keeps x, not the gradient, so the
  // gradient is still private and taken; a second pass then adds into it in place.
  Tensor y = vec({1, 2});
  const Tensor loss = sum(mul(y, y));
  loss.backward(Tensor(), /*retain_graph=*/true);
  const void* memory = y.grad().raw_data();
  loss.backward();
  EXPECT_EQ(y.grad().raw_data(), memory);
  EXPECT_EQ(y.grad().to_vector<double>(), (std::vector<double>{4, 8}));
}

TEST(Autograd, NonLeafGradOnlyWhenRetained) {
  Tensor x = vec({1, 2});
  Tensor y = mul_scalar(x, 2.0);
  Tensor z = mul_scalar(x, 3.0);
  z.retain_grad();
  sum(add(mul(y, y), z)).backward();
  EXPECT_FALSE(y.grad().defined());
  ASSERT_TRUE(z.grad().defined());
  EXPECT_EQ(z.grad().to_vector<double>(), (std::vector<double>{1, 1}));
}

TEST(Autograd, GradReturnsWithoutTouchingDotGrad) {
  Tensor x = vec({1, 2, 3});
  Tensor y = sum(mul(x, x));
  TensorList g = grad({y}, {x});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{2, 4, 6}));
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, GradOfIntermediateTensor) {
  Tensor x = vec({1, 2});
  Tensor h = mul_scalar(x, 3.0);
  Tensor y = sum(mul(h, h));
  TensorList g = grad({y}, {h, x});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{6, 12}));   // 2h
  EXPECT_EQ(g[1].to_vector<double>(), (std::vector<double>{18, 36}));  // 2h * 3
}

TEST(Autograd, MultipleUsesSum) {
  Tensor x = vec({1, 2, 3});
  TensorList g = grad({sum(add(mul(x, x), x))}, {x});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{3, 5, 7}));
}

TEST(Autograd, SecondBackwardWithoutRetainGraphFails) {
  Tensor x = vec({1, 2});
  Tensor y = sum(mul(x, x));
  y.backward();
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("retain_graph"), std::string::npos) << e.what();
  }
}

TEST(Autograd, RetainGraphAllowsTwoPasses) {
  Tensor x = vec({1, 2});
  Tensor y = sum(mul(x, x));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, 8}));
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = vec({1, 2});
  Tensor y;
  {
    NoGradGuard guard;
    y = mul(x, x);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  EXPECT_TRUE(GradMode::enabled());
}

TEST(Autograd, InPlaceChangeOfSavedTensorIsAnError) {
  Tensor x = vec({1, 2});
  Tensor h = mul_scalar(x, 1.0);
  Tensor y = sum(mul(h, h));  // saves h
  {
    NoGradGuard guard;
    add_(h, ones_like(h));
  }
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("modified in place"), std::string::npos) << e.what();
  }
}

TEST(Autograd, SecondDerivativeOfCube) {
  Tensor x = vec({1, 2, -3});
  TensorList g = grad({sum(pow(x, 3.0))}, {x}, {}, false, /*create_graph=*/true);
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{3, 12, 27}));
  ASSERT_TRUE(g[0].requires_grad());
  TensorList gg = grad({sum(g[0])}, {x});
  EXPECT_EQ(gg[0].to_vector<double>(), (std::vector<double>{6, 12, -18}));
}

TEST(Autograd, GradientOfGradientNormThroughMatmul) {
  // d/dW of ||d(sum(x W))/dx||^2: the shape of the WGAN-GP computation in miniature.
  Tensor x = testing::random_input({2, 3}, 21);
  Tensor w = testing::random_input({3, 4}, 22);
  testing::Fn f = [](const TensorList& t) {
    Tensor y = sum(pow(matmul(t[0], t[1]), 2.0));
    TensorList gx = grad({y}, {t[0]}, {}, true, true);
    return sum(mul(gx[0], gx[0]));
  };
  EXPECT_GRADCHECK(f, {x, w});
}

TEST(Autograd, OpWithoutDoubleBackwardFailsLoudly) {
  // An op whose backward is not differentiable (recorded with DoubleBackward::No).
  auto opaque_square = [](const Tensor& x) {
    Tensor out;
    {
      NoGradGuard guard;
      out = mul(x, x);
    }
    record("opaque_square", {x}, out, [sx = save(x)](const BackwardContext& ctx) {
      NoGradGuard guard;  // a "fused kernel": no history
      return TensorList{mul(ctx.grad(), mul_scalar(sx.get("opaque_square"), 2.0))};
    }, DoubleBackward::No);
    return out;
  };
  Tensor x = vec({1, 2});
  TensorList g = grad({sum(opaque_square(x))}, {x}, {}, false, true);
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{2, 4}));
  try {
    grad({sum(g[0])}, {x});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("opaque_square"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("double backward"), std::string::npos) << e.what();
  }
  // Without create_graph the same op is fine.
  TensorList plain = grad({sum(opaque_square(x))}, {x});
  EXPECT_EQ(plain[0].to_vector<double>(), (std::vector<double>{2, 4}));
}

TEST(Autograd, GradcheckCatchesAWrongGradient) {
  auto wrong = [](const TensorList& t) {
    Tensor out;
    {
      NoGradGuard guard;
      out = mul(t[0], t[0]);
    }
    record("wrong_square", {t[0]}, out, [sx = save(t[0])](const BackwardContext& ctx) {
      return TensorList{mul(ctx.grad(), sx.get("wrong_square"))};  // missing factor 2
    });
    return out;
  };
  EXPECT_NE(testing::gradcheck(wrong, {testing::random_input({3}, 5)}), "");
}

// y = x^2 with a fast backward and a composite one (as ops/activation.cpp and ops/loss.cpp
// have), one of them scaled by `wrong` (1.25: 25% off), the other right.
Tensor square_with_two_backwards(const Tensor& x, double fast_scale, double composite_scale) {
  Tensor out;
  {
    NoGradGuard guard;
    out = mul(x, x);
  }
  record("two_backwards_square", {x}, out,
         [sx = save(x), fast_scale, composite_scale](const BackwardContext& ctx) {
           const Tensor& v = sx.get("two_backwards_square");
           const double scale = ctx.create_graph() ? composite_scale : fast_scale;
           return TensorList{mul(ctx.grad(), mul_scalar(v, 2.0 * scale))};
         });
  return out;
}

TEST(Autograd, GradcheckChecksTheCompositeBackwardAgainstFiniteDifferences) {
  // The composite (create_graph) gradient 25% wrong while the fast one is right: the blind spot
  // of a check that differentiates the composite graph only against itself.
  auto f = [](const TensorList& t) { return square_with_two_backwards(t[0], 1.0, 1.25); };
  const Tensor x = testing::random_input({4}, 7);
  const std::string first = testing::gradcheck(f, {x});
  EXPECT_NE(first.find("composite"), std::string::npos) << first;
  EXPECT_EQ(first.find("fast"), std::string::npos) << first;
  const std::string second = testing::gradgradcheck(f, {x});
  EXPECT_NE(second.find("differs from the fast one"), std::string::npos) << second;
}

TEST(Autograd, GradcheckChecksTheFastBackwardAgainstFiniteDifferences) {
  auto f = [](const TensorList& t) { return square_with_two_backwards(t[0], 1.25, 1.0); };
  const Tensor x = testing::random_input({4}, 8);
  const std::string first = testing::gradcheck(f, {x});
  EXPECT_NE(first.find("fast"), std::string::npos) << first;
  EXPECT_EQ(first.find("composite"), std::string::npos) << first;
  EXPECT_NE(testing::gradgradcheck(f, {x}), "");
  // Both right: both checks pass (so the failures above are the scale, not the set-up).
  auto right = [](const TensorList& t) { return square_with_two_backwards(t[0], 1.0, 1.0); };
  EXPECT_GRADCHECK(right, {x});
  EXPECT_GRADGRADCHECK(right, {x});
}

TEST(Autograd, GradRunsOnlyTheNodesOnAPathToItsInputs) {
  // A node whose backward throws stands on a branch that does not lead to x: grad() w.r.t. x
  // must not run it (as a gradient penalty w.r.t. x_hat must not run the generator's backward),
  // while backward(), which needs every leaf, does.
  Tensor x = vec({1, 2});
  Tensor other = vec({3, 4});
  Tensor guarded;
  {
    NoGradGuard guard;
    guarded = mul_scalar(other, 1.0);
  }
  record("explodes", {other}, guarded, [](const BackwardContext&) -> TensorList {
    throw Error("explodes: backward ran");
  });
  Tensor y = sum(add(mul(x, x), guarded));
  TensorList g = grad({y}, {x}, {}, /*retain_graph=*/true);
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{2, 4}));
  EXPECT_THROW(y.backward(), Error);
}

TEST(Autograd, UnusedInputs) {
  Tensor x = vec({1});
  Tensor unused = vec({2});
  Tensor y = sum(mul(x, x));
  EXPECT_THROW(grad({y}, {x, unused}, {}, true), Error);
  TensorList g = grad({y}, {x, unused}, {}, false, false, /*allow_unused=*/true);
  EXPECT_TRUE(g[0].defined());
  EXPECT_FALSE(g[1].defined());
}

TEST(Autograd, ErrorsNameTheProblem) {
  Tensor x = vec({1, 2});
  Tensor y = mul(x, x);
  EXPECT_THROW(y.backward(), Error);  // not a scalar and no gradient given
  EXPECT_THROW(y.set_requires_grad(false), Error);  // not a leaf
  EXPECT_THROW(vec({1}, false).backward(), Error);  // does not require grad
  Tensor labels = zeros({2}, {.dtype = DType::Int64});
  EXPECT_THROW(labels.set_requires_grad(true), Error);
  y.backward(ones_like(y));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 4}));
}

TEST(Autograd, SavedOutputsDoNotKeepTheirGraphAlive) {
  // Ops that save their own output (exp, sigmoid, softmax, ...) must not form a cycle
  // output -> grad_fn -> saved output: an unused graph has to be freed.
  Tensor x = vec({0.5, -1.0});
  std::weak_ptr<TensorImpl> output;
  std::weak_ptr<Node> node;
  {
    Tensor y = sigmoid(exp(x));
    output = y.impl_ptr();
    node = y.grad_fn();
  }
  EXPECT_TRUE(output.expired());
  EXPECT_TRUE(node.expired());
  // Dropping the output handle does not break backward, first or second order.
  TensorList g = grad({sum(exp(x))}, {x}, {}, false, true);
  TensorList gg = grad({sum(g[0])}, {x});
  EXPECT_NEAR(gg[0].to_vector<double>()[0], std::exp(0.5), 1e-12);
}

TEST(Autograd, GradOutputsWeightOutputs) {
  Tensor x = vec({1, 2});
  Tensor y = mul_scalar(x, 3.0);
  TensorList g = grad({y}, {x}, {vec({10, 100}, false)});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{30, 300}));
}

}  // namespace
}  // namespace ember
