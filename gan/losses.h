// The GAN losses, written on ember's differentiable ops, for any critic given as a
// function (images, labels) -> scores [N, 1] (a models::ProjectionCritic, or a hand-made
// function in tests).
//
// WGAN-GP (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", algorithm 1):
//   critic    L_D = mean D(fake) - mean D(real) + lambda * GP
//             GP  = mean_i (||grad_x D(x_hat_i, y_i)||_2 - 1)^2,
//             x_hat = alpha * real + (1 - alpha) * fake, alpha ~ U[0, 1] per sample
//   generator L_G = -mean D(fake)
//   the critic's estimate of the Wasserstein distance: W = mean D(real) - mean D(fake).
// The penalty's gradient with respect to the critic's weights differentiates a gradient, so
// GP is built with grad(..., create_graph=true) and L_D.backward() runs the double backward of
// every critic op (docs/gan.md).
//
// Classic conditional GAN with the non-saturating loss (Goodfellow et al. 2014; the Keras
// "Conditional GAN" example the seed started from), D giving logits:
//   discriminator L_D = (BCE(D(real), 1) + BCE(D(fake), 0)) / 2
//     (the mean over the real and fake halves of one 2N batch, as the Keras example computes
//      it; it labels fake 1 and real 0, which gives the same value since
//      BCE(x, 1) = BCE(-x, 0) and its D is free to flip sign)
//   generator     L_G = BCE(D(fake), 1).
//
// Inputs are not detached here: pass fake.detach() for a critic step (so the generator gets
// no gradient), the live fake for a generator step. The penalty always detaches its x_hat.
// Tested in tests/test_gan_losses.cpp (hand computations, finite differences in float64 of the
// critic loss with its penalty, CPU against GPU, a few Adam steps).
#pragma once
#include <functional>

#include "gan/networks.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace ember::training {

// A critic: images [N, H, W, C], labels int64 [N] -> scores [N, 1].
using CriticFn = std::function<Tensor(const Tensor& images, const Tensor& labels)>;
// Wraps a module (which must outlive the function).
CriticFn critic_fn(models::ProjectionCritic& critic);

// The parts of a critic (discriminator) step, all scalars with the dtype of the scores.
// `loss` carries the graph (call loss.backward()); the others are for logging.
struct CriticLossParts {
  Tensor loss;
  Tensor penalty;      // GP, unweighted (WGAN-GP); zeros for the BCE loss
  Tensor wasserstein;  // mean D(real) - mean D(fake): the Wasserstein estimate under WGAN-GP,
                       // the mean logit gap under BCE
  Tensor real_score;   // mean D(real)
  Tensor fake_score;   // mean D(fake)
};

struct WganGpOptions {
  double penalty_weight = 10.0;  // lambda
  // Added under the square root of ||g||^2, so the norm's derivative stays finite where g = 0
  // (a dead critic); far below float32 resolution of any real norm.
  double norm_eps = 1e-12;
};

// alpha [N, 1, 1, 1] ~ U[0, 1) with like's dtype and device, drawn from gen.
Tensor interpolation_weights(const Tensor& like, RandomGenerator& gen);

// GP = mean_i (||grad_x D(x_hat_i)||_2 - 1)^2 (unweighted) on x_hat = alpha real + (1-alpha) fake.
// x_hat is detached (a fresh leaf): the penalty constrains D's input gradient and trains only
// D's weights. The result carries a graph through the gradient (create_graph).
Tensor gradient_penalty(const CriticFn& critic, const Tensor& real, const Tensor& fake,
                        const Tensor& labels, const Tensor& alpha,
                        const WganGpOptions& options = {});

// The WGAN-GP critic loss with alpha given (tests) or drawn from gen (training).
CriticLossParts wgan_gp_critic_loss(const CriticFn& critic, const Tensor& real, const Tensor& fake,
                                    const Tensor& labels, const Tensor& alpha,
                                    const WganGpOptions& options = {});
CriticLossParts wgan_gp_critic_loss(const CriticFn& critic, const Tensor& real, const Tensor& fake,
                                    const Tensor& labels, RandomGenerator& gen,
                                    const WganGpOptions& options = {});
// -mean D(fake, labels).
Tensor wgan_generator_loss(const CriticFn& critic, const Tensor& fake, const Tensor& labels);
// mean(real_scores) - mean(fake_scores).
Tensor wasserstein_estimate(const Tensor& real_scores, const Tensor& fake_scores);

// Non-saturating BCE losses on logits D(x, y).
CriticLossParts bce_discriminator_loss(const CriticFn& critic, const Tensor& real,
                                       const Tensor& fake, const Tensor& labels);
Tensor bce_generator_loss(const CriticFn& critic, const Tensor& fake, const Tensor& labels);

}  // namespace ember::training
