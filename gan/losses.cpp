// WGAN-GP and non-saturating BCE losses (gan/losses.h for the formulas and references;
// docs/gan.md for why the penalty needs second-order autograd). Tested in
// tests/test_gan_losses.cpp.
#include "gan/losses.h"

#include <string>

#include "ops/ops.h"
#include "tensor/error.h"

namespace ember::training {

namespace {

// real and fake: the same [N, H, W, C] floating shape, dtype and device; labels [N].
void check_batch(const Tensor& real, const Tensor& fake, const Tensor& labels, const char* op) {
  check_defined(real, op, "real");
  check_defined(fake, op, "fake");
  check_defined(labels, op, "labels");
  check_same_shape(real, fake, op);
  check_same_dtype(real, fake, op);
  check_same_device(real, fake, op);
  EMBER_CHECK(real.dim() == 4, op, ": images must be [N, H, W, C], got ", real.describe());
  EMBER_CHECK(labels.dim() == 1 && labels.size(0) == real.size(0), op, ": labels must be [",
              real.size(0), "], got ", labels.describe());
}

// D(x, y) checked to be [N, 1], so a critic returning [N] or [N, C] fails here, not as a
// silently broadcast loss.
Tensor scores_of(const CriticFn& critic, const Tensor& x, const Tensor& labels, const char* op) {
  Tensor s = critic(x, labels);
  EMBER_CHECK(s.defined() && s.dim() == 2 && s.size(0) == x.size(0) && s.size(1) == 1, op,
              ": the critic must return scores [", x.size(0), ", 1], got ",
              s.defined() ? s.describe() : std::string("an undefined tensor"));
  return s;
}

}  // namespace

CriticFn critic_fn(models::ProjectionCritic& critic) {
  return [&critic](const Tensor& images, const Tensor& labels) {
    return critic.forward(images, labels);
  };
}

Tensor interpolation_weights(const Tensor& like, RandomGenerator& gen) {
  check_defined(like, "interpolation_weights", "like");
  EMBER_CHECK(like.dim() >= 1, "interpolation_weights: need a batch axis, got ", like.describe());
  return rand_uniform({like.size(0), 1, 1, 1}, gen,
                      {.dtype = like.dtype(), .device = like.device()});
}

Tensor gradient_penalty(const CriticFn& critic, const Tensor& real, const Tensor& fake,
                        const Tensor& labels, const Tensor& alpha, const WganGpOptions& options) {
  const char* op = "gradient_penalty";
  check_batch(real, fake, labels, op);
  check_defined(alpha, op, "alpha");
  EMBER_CHECK(alpha.shape() == Shape({real.size(0), 1, 1, 1}), op, ": alpha must be [",
              real.size(0), ", 1, 1, 1] (one weight per sample), got ", alpha.describe());
  // x_hat as a fresh leaf: the penalty is a function of D's weights only, and grad() below
  // needs an input to differentiate with respect to.
  Tensor x_hat;
  {
    NoGradGuard no_grad;
    x_hat = (alpha * real + (ones_like(alpha) - alpha) * fake).detach();
  }
  x_hat.set_requires_grad(true);
  Tensor scores = scores_of(critic, x_hat, labels, op);
  // d sum_i D(x_hat_i) / d x_hat_i = grad of D at sample i alone, since samples do not interact
  // in the critic (no BatchNorm). create_graph: the result is differentiable in D's weights.
  TensorList g = grad({sum(scores)}, {x_hat}, {}, /*retain_graph=*/true, /*create_graph=*/true);
  Tensor norms = sqrt(sum(g[0] * g[0], {1, 2, 3}) + options.norm_eps);  // [N]
  return mean(pow(norms - 1.0, 2.0));
}

Tensor wasserstein_estimate(const Tensor& real_scores, const Tensor& fake_scores) {
  check_defined(real_scores, "wasserstein_estimate", "real_scores");
  check_defined(fake_scores, "wasserstein_estimate", "fake_scores");
  return mean(real_scores) - mean(fake_scores);
}

CriticLossParts wgan_gp_critic_loss(const CriticFn& critic, const Tensor& real, const Tensor& fake,
                                    const Tensor& labels, const Tensor& alpha,
                                    const WganGpOptions& options) {
  const char* op = "wgan_gp_critic_loss";
  check_batch(real, fake, labels, op);
  EMBER_CHECK(options.penalty_weight >= 0.0, op, ": penalty_weight must be >= 0, got ",
              options.penalty_weight);
  CriticLossParts parts;
  parts.real_score = mean(scores_of(critic, real, labels, op));
  parts.fake_score = mean(scores_of(critic, fake, labels, op));
  parts.penalty = gradient_penalty(critic, real, fake, labels, alpha, options);
  parts.loss = parts.fake_score - parts.real_score + parts.penalty * options.penalty_weight;
  parts.wasserstein = sub(parts.real_score, parts.fake_score).detach();
  return parts;
}

CriticLossParts wgan_gp_critic_loss(const CriticFn& critic, const Tensor& real, const Tensor& fake,
                                    const Tensor& labels, RandomGenerator& gen,
                                    const WganGpOptions& options) {
  check_defined(real, "wgan_gp_critic_loss", "real");
  return wgan_gp_critic_loss(critic, real, fake, labels, interpolation_weights(real, gen), options);
}

Tensor wgan_generator_loss(const CriticFn& critic, const Tensor& fake, const Tensor& labels) {
  check_defined(fake, "wgan_generator_loss", "fake");
  return -mean(scores_of(critic, fake, labels, "wgan_generator_loss"));
}

CriticLossParts bce_discriminator_loss(const CriticFn& critic, const Tensor& real,
                                       const Tensor& fake, const Tensor& labels) {
  const char* op = "bce_discriminator_loss";
  check_batch(real, fake, labels, op);
  Tensor real_logits = scores_of(critic, real, labels, op);
  Tensor fake_logits = scores_of(critic, fake, labels, op);
  CriticLossParts parts;
  parts.loss = mul_scalar(add(bce_with_logits(real_logits, ones_like(real_logits)),
                              bce_with_logits(fake_logits, zeros_like(fake_logits))),
                          0.5);
  parts.real_score = mean(real_logits);
  parts.fake_score = mean(fake_logits);
  parts.penalty = zeros({}, {.dtype = real_logits.dtype(), .device = real_logits.device()});
  parts.wasserstein = sub(parts.real_score, parts.fake_score).detach();
  return parts;
}

Tensor bce_generator_loss(const CriticFn& critic, const Tensor& fake, const Tensor& labels) {
  check_defined(fake, "bce_generator_loss", "fake");
  Tensor logits = scores_of(critic, fake, labels, "bce_generator_loss");
  return bce_with_logits(logits, ones_like(logits));
}

}  // namespace ember::training
