// The conditional GAN training loop: a models::ConditionalGenerator against a
// models::ProjectionCritic on a labelled ImageSet, with the WGAN-GP losses (Gulrajani et al.
// 2017, algorithm 1) or the classic non-saturating BCE losses of the Keras "Conditional GAN"
// example (gan/losses.h).
//
// One loader batch = one critic (discriminator) step; after every n_critic critic steps
// (counted over the whole run) comes one generator step. Real images are uint8 0..255 scaled to
// [-1, 1] (x / 127.5 - 1); the generated samples of both steps carry the batch's real labels,
// so the class mix of the fakes follows the sampler (the balanced sampler balances them too).
// Fresh z ~ N(0, 1) for every step and the WGAN-GP interpolation weights come from one Philox
// generator (saved in the checkpoint); the loader's order is a pure function of (seed, epoch).
//
// Files in out_dir:
//   losses.csv                 one row per epoch: mean losses, Wasserstein estimate, penalty...
//   samples/epoch_XXXX.png     every sample_every epochs and at the end: one row per class,
//                              sample_cols columns, from fixed noise (kept in the checkpoint),
//                              the generator in eval() mode (BN running statistics), the EMA
//                              weights when ema_decay > 0
//   checkpoint.json            the manifest: which slot holds the last good state, its epoch,
//                              the configuration key and the history; written last
//   checkpoint_{a,b}/generator.safetensors  generator + fixed noise (buffers of a wrapper
//                              module) + its Adam + EMA + the training RNG (optim/checkpoint.h)
//   checkpoint_{a,b}/critic.safetensors     critic + its Adam
//   generator.safetensors      at the end: models::save_generator_file (EMA weights with --ema,
//                              metadata "ema" = "1")
// Why two slots: optim/checkpoint.h holds one model and one optimizer per file, and the two
// files of a pair must agree. Each epoch writes both files into the slot the manifest does NOT
// name, then replaces the manifest atomically; a kill at any point leaves the manifest naming a
// complete, untouched pair. Resume reads the manifest, checks both files carry its epoch, and
// loads them.
//
// A non-finite loss, or one whose magnitude exceeds explode_threshold, stops the run with an
// error naming the epoch, the step and the last good checkpoint (which is left untouched).
//
// In gan/trainer.cpp, train_gan reads as its steps: resume_from, then per epoch
// train_one_epoch (a critic_step per batch, a generator_step every n_critic) and end_of_epoch
// (sample grid, checkpoint pair, losses.csv, the log line).
//
// Used by apps/train_gan; tested in tests/test_gan_trainer.cpp (tiny networks on synthetic
// 16x16 images: finite logged losses, grids, bit-identical resume, the explosion stop).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "datasets/image_set.h"
#include "gan/networks.h"
#include "tensor/device.h"
#include "training/run_log.h"

namespace ember::training {

struct GanTrainOptions {
  std::string loss = "wgan-gp";  // wgan-gp | bce
  int64_t epochs = 10;
  int64_t batch_size = 64;
  // Adam for both networks; defaults per loss from apply_gan_loss_defaults().
  double g_lr = 1e-4, d_lr = 1e-4;
  double beta1 = 0.0, beta2 = 0.9;
  int64_t n_critic = 5;      // critic steps per generator step (1 for bce)
  double gp_weight = 10.0;   // WGAN-GP lambda
  double ema_decay = 0.0;    // 0: no EMA of the generator's weights
  bool balanced = false;     // class-balanced sampler (datasets/loader.h)
  int64_t sample_every = 1;  // epochs between sample grids (and always at the end)
  int64_t sample_cols = 8;   // samples per class in a grid
  uint64_t seed = 0;         // weights, noise, loader order
  Device device = Device::cpu();
  // On CUDA, the critic and generator steps are each captured once per batch shape in a CUDA
  // graph and replayed (training/graphed_step.h). Ignored on the CPU.
  bool cuda_graphs = true;
  double explode_threshold = 1e6;  // |loss| above this stops the run
  int64_t progress_every = 20;     // a stdout line every this many critic steps; 0: none
  std::filesystem::path out_dir;   // required
  bool resume = false;             // continue from out_dir/checkpoint.json
  // Compared on resume with the manifest's: another configuration is an error naming both.
  std::string config_key;
  // Extra metadata for generator.safetensors (variant, data...).
  std::map<std::string, std::string> generator_metadata;
  models::GeneratorConfig generator;
  models::CriticConfig critic;
};

// The documented defaults of a loss: wgan-gp lr 1e-4 both, betas (0.0, 0.9), n_critic 5,
// gp weight 10 (Gulrajani et al. 2017); bce lr 3e-4 both, betas (0.9, 0.999) (Keras's Adam
// defaults), n_critic 1 (the Keras "Conditional GAN" example). Other fields are left as given.
void apply_gan_loss_defaults(GanTrainOptions& options);

struct GanEpochRecord {
  int64_t epoch = 0;                 // 1-based
  double d_loss = 0;                 // mean over the epoch's critic steps (penalty included)
  double g_loss = 0;                 // mean over the epoch's generator steps
  double wasserstein = 0;            // mean D(real) - mean D(fake) (the mean logit gap under bce)
  double penalty = 0;                // mean unweighted gradient penalty (0 under bce)
  double d_real = 0, d_fake = 0;     // mean critic scores
  int64_t d_steps = 0, g_steps = 0;  // in this epoch
  double seconds = 0;
  double images_per_second = 0;  // real images through critic steps per second
};

struct GanTrainResult {
  std::vector<GanEpochRecord> history;  // all epochs, resumed ones included
  bool resumed = false;
  int64_t resumed_from_epoch = 0;
  int64_t generator_parameters = 0, critic_parameters = 0;
  std::filesystem::path generator_path;  // out_dir/generator.safetensors
};

// Builds both networks from options.generator / options.critic (weights drawn from the seed),
// logs their summaries, trains, and writes the files above.
GanTrainResult train_gan(const datasets::ImageSet& train, const GanTrainOptions& options,
                         RunLog& log);

// The history as CSV text (header + one row per epoch).
std::string gan_history_csv(const std::vector<GanEpochRecord>& history);

}  // namespace ember::training
