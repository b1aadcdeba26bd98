// The small projection critic and WGAN-GP penalty shared by tests/test_wgan_gp.cpp (finite
// differences on the CPU) and tests/test_cuda_end_to_end.cpp (the same penalty on the GPU).
#pragma once
#include "ops/ops.h"

namespace ember::testing {

// D(x, y) = Dense(1)(h) + <Embedding(y), h>, h = global_sum_pool(lrelu(conv2(lrelu(conv1(x))))).
// p = {conv1 w, conv1 b, conv2 w, conv2 b, dense w, dense b, embedding table}.
inline Tensor critic(const Tensor& x, const Tensor& labels, const TensorList& p) {
  const Conv2dParams down = same_padding(x.size(1), x.size(2), 3, 3, 2, 2);
  Tensor h = leaky_relu(conv2d(x, p[0], p[1], down), 0.2);
  const Conv2dParams down2 = same_padding(h.size(1), h.size(2), 3, 3, 2, 2);
  h = leaky_relu(conv2d(h, p[2], p[3], down2), 0.2);
  Tensor features = global_sum_pool(h);                                         // [N, F]
  Tensor projection = sum(mul(embedding(p[6], labels), features), {1}, true);  // [N, 1]
  return add(linear(features, p[4], p[5]), projection);                         // [N, 1]
}

// lambda * mean((||grad_x D(x_hat)||_2 - 1)^2) on x_hat = alpha * real + (1 - alpha) * fake.
inline Tensor gradient_penalty(const Tensor& real, const Tensor& fake, const Tensor& alpha,
                               const Tensor& labels, const TensorList& params, double lambda) {
  // x_hat is a fresh leaf so the penalty differentiates D with respect to its input.
  Tensor x_hat = add(mul(alpha, real), mul(sub(ones_like(alpha), alpha), fake)).detach();
  x_hat.set_requires_grad(true);
  Tensor scores = critic(x_hat, labels, params);
  TensorList g = grad({sum(scores)}, {x_hat}, {}, /*retain_graph=*/true, /*create_graph=*/true);
  Tensor norms = sqrt(add_scalar(sum(mul(g[0], g[0]), {1, 2, 3}), 1e-12));  // [N]
  return mul_scalar(mean(pow(add_scalar(norms, -1.0), 2.0)), lambda);
}

}  // namespace ember::testing
