// End to end: a two-layer convolutional critic with a label projection (Miyato & Koyama), the
// WGAN-GP penalty lambda * (||grad_x D(x_hat)||_2 - 1)^2 on interpolates, and its gradient with
// respect to every critic parameter checked against central finite differences in float64.
// This is the second-order path the conditional GAN trains through.
#include <gtest/gtest.h>

#include "tests/gradcheck.h"
#include "tests/wgan_critic.h"

namespace ember {
namespace {

using testing::gradient_penalty;
using testing::random_input;

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
