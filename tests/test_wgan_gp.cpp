// End to end: a two-layer convolutional critic with a label projection (Miyato & Koyama), the
// WGAN-GP penalty lambda * (||grad_x D(x_hat)||_2 - 1)^2 on interpolates, and its gradient with
// respect to every critic parameter checked against central finite differences in float64.
// This is the second-order path the conditional GAN trains through.
#include <gtest/gtest.h>

#include "tests/gradcheck.h"

namespace ember {
namespace {

using testing::random_input;

// D(x, y) = Dense(1)(h) + <Embedding(y), h>, h = global_sum_pool(lrelu(conv2(lrelu(conv1(x))))).
Tensor critic(const Tensor& x, const Tensor& labels, const TensorList& p) {
  const Conv2dParams down = same_padding(x.size(1), x.size(2), 3, 3, 2, 2);
  Tensor h = leaky_relu(conv2d(x, p[0], p[1], down), 0.2);
  const Conv2dParams down2 = same_padding(h.size(1), h.size(2), 3, 3, 2, 2);
  h = leaky_relu(conv2d(h, p[2], p[3], down2), 0.2);
  Tensor features = global_sum_pool(h);                          // [N, F]
  Tensor projection = sum(mul(embedding(p[6], labels), features), {1}, true);  // [N, 1]
  return add(linear(features, p[4], p[5]), projection);          // [N, 1]
}

Tensor gradient_penalty(const Tensor& real, const Tensor& fake, const Tensor& alpha,
                        const Tensor& labels, const TensorList& params, double lambda) {
  // x_hat = alpha * real + (1 - alpha) * fake, a fresh leaf so the penalty differentiates
  // D with respect to its input.
  Tensor x_hat = add(mul(alpha, real), mul(sub(ones_like(alpha), alpha), fake)).detach();
  x_hat.set_requires_grad(true);
  Tensor scores = critic(x_hat, labels, params);
  TensorList g = grad({sum(scores)}, {x_hat}, {}, /*retain_graph=*/true, /*create_graph=*/true);
  Tensor norms = sqrt(add_scalar(sum(mul(g[0], g[0]), {1, 2, 3}), 1e-12));  // [N]
  return mul_scalar(mean(pow(add_scalar(norms, -1.0), 2.0)), lambda);
}

TEST(WganGp, PenaltyGradientMatchesFiniteDifferences) {
  const int64_t N = 2, H = 6, W = 6, C = 2, F1 = 3, F2 = 4, classes = 3;
  Tensor real = random_input({N, H, W, C}, 1);
  Tensor fake = random_input({N, H, W, C}, 2);
  Tensor alpha = random_input({N, 1, 1, 1}, 3, 0.0, 1.0);
  Tensor labels = from_vector<int64_t>({0, 2}, {N}, {.dtype = DType::Int64});
  real.set_requires_grad(false);
  fake.set_requires_grad(false);
  alpha.set_requires_grad(false);
  TensorList params = {
      random_input({F1, 3, 3, C}, 10, -0.5, 0.5), random_input({F1}, 11, -0.1, 0.1),
      random_input({F2, 3, 3, F1}, 12, -0.5, 0.5), random_input({F2}, 13, -0.1, 0.1),
      random_input({1, F2}, 14, -0.5, 0.5), random_input({1}, 15, -0.1, 0.1),
      random_input({classes, F2}, 16, -0.5, 0.5)};
  testing::Fn penalty = [&](const TensorList& p) {
    return gradient_penalty(real, fake, alpha, labels, p, 10.0);
  };
  // Leaky ReLU kinks: the fixed seeds keep pre-activations away from 0 by more than eps.
  EXPECT_GRADCHECK(penalty, params, {.eps = 1e-6, .atol = 1e-5, .rtol = 1e-4});
  // The penalty is not trivially zero and reaches every weight (biases only move the leaky-ReLU
  // kinks, so their exact derivative is zero: that is checked by the gradcheck above).
  Tensor value = penalty(params);
  EXPECT_GT(value.item<double>(), 1e-3);
  TensorList grads = grad({value}, params, {}, false, false, /*allow_unused=*/true);
  for (size_t i : {0, 2, 4, 6}) {
    ASSERT_TRUE(grads[i].defined()) << "parameter " << i;
    EXPECT_GT(amax(abs(grads[i])).item<double>(), 1e-6) << "parameter " << i;
  }
}

}  // namespace
}  // namespace ember
