// The conditional GAN training loop (see trainer.h). train_gan at the bottom reads as the
// recipe; each step above it is one short function: resume_from, critic_step, generator_step,
// end_of_epoch (sample grid, checkpoint pair, losses.csv, the epoch's log line).
#include "gan/trainer.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "autograd/grad_mode.h"
#include "datasets/loader.h"
#include "gan/losses.h"
#include "gan/networks_io.h"
#include "nn/safetensors.h"
#include "ops/ops.h"
#include "ops/random.h"
#include "optim/adam.h"
#include "optim/checkpoint.h"
#include "optim/ema.h"
#include "tensor/atomic_file.h"
#include "training/graphed_step.h"
#include "training/profiled_steps.h"
#include "training/image_grid.h"

namespace ember::training {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr const char* kManifestFormat = "ember.train_gan.checkpoint.v1";

// The generator with the sampling noise as buffers, so one checkpoint file holds both (and the
// noise follows the generator to the device).
class GeneratorWithNoise : public nn::Module {
 public:
  GeneratorWithNoise(std::shared_ptr<models::ConditionalGenerator> generator, Tensor noise,
                     Tensor labels) {
    register_module("generator", std::move(generator));
    noise_ = register_buffer("fixed_noise", std::move(noise));
    labels_ = register_buffer("fixed_labels", std::move(labels));
  }
  std::string name() const override { return "GeneratorWithNoise"; }
  const Tensor& noise() const { return noise_; }
  const Tensor& labels() const { return labels_; }

 private:
  Tensor noise_, labels_;
};

nlohmann::json history_json(const std::vector<GanEpochRecord>& history) {
  nlohmann::json out = nlohmann::json::array();
  for (const GanEpochRecord& r : history) {
    out.push_back({{"epoch", r.epoch},
                   {"d_loss", r.d_loss},
                   {"g_loss", r.g_loss},
                   {"wasserstein", r.wasserstein},
                   {"penalty", r.penalty},
                   {"d_real", r.d_real},
                   {"d_fake", r.d_fake},
                   {"d_steps", r.d_steps},
                   {"g_steps", r.g_steps},
                   {"seconds", r.seconds},
                   {"images_per_second", r.images_per_second}});
  }
  return out;
}

std::vector<GanEpochRecord> history_from_json(const nlohmann::json& j) {
  std::vector<GanEpochRecord> out;
  for (const auto& r : j) {
    out.push_back({.epoch = r.at("epoch"),
                   .d_loss = r.at("d_loss"),
                   .g_loss = r.at("g_loss"),
                   .wasserstein = r.at("wasserstein"),
                   .penalty = r.at("penalty"),
                   .d_real = r.at("d_real"),
                   .d_fake = r.at("d_fake"),
                   .d_steps = r.at("d_steps"),
                   .g_steps = r.at("g_steps"),
                   .seconds = r.at("seconds"),
                   .images_per_second = r.at("images_per_second")});
  }
  return out;
}

// Sums over an epoch, on the host (each loss is read every step for the explosion check).
struct EpochSums {
  double d_loss = 0, g_loss = 0, wasserstein = 0, penalty = 0, d_real = 0, d_fake = 0;
  int64_t d_steps = 0, g_steps = 0, images = 0;
};

void check_gan_options(const datasets::ImageSet& train, const GanTrainOptions& o) {
  EMBER_CHECK(o.loss == "wgan-gp" || o.loss == "bce", "train_gan: unknown loss '", o.loss,
              "' (wgan-gp or bce)");
  EMBER_CHECK(o.epochs > 0, "train_gan: epochs must be positive, got ", o.epochs);
  EMBER_CHECK(o.batch_size > 1, "train_gan: batch size must be at least 2 (BatchNorm), got ",
              o.batch_size);
  EMBER_CHECK(o.n_critic > 0, "train_gan: n_critic must be positive, got ", o.n_critic);
  EMBER_CHECK(o.sample_every > 0 && o.sample_cols > 0,
              "train_gan: sample_every and sample_cols must be positive");
  EMBER_CHECK(o.explode_threshold > 0, "train_gan: explode_threshold must be positive");
  EMBER_CHECK(!o.out_dir.empty(), "train_gan: no output folder");
  const int64_t classes = static_cast<int64_t>(train.class_names.size());
  EMBER_CHECK(o.generator.num_classes == classes && o.critic.num_classes == classes,
              "train_gan: the networks are configured for ", o.generator.num_classes, " / ",
              o.critic.num_classes, " classes, the training set has ", classes);
  EMBER_CHECK(train.images.defined() && train.images.dim() == 4 &&
                  train.images.size(1) == o.generator.image_size &&
                  train.images.size(2) == o.generator.image_size &&
                  train.images.size(3) == o.generator.out_channels &&
                  o.critic.image_size == o.generator.image_size &&
                  o.critic.in_channels == o.generator.out_channels,
              "train_gan: the training images are ",
              train.images.defined() ? train.images.describe() : std::string("missing"),
              " but the generator makes ", o.generator.image_size, "x", o.generator.image_size, "x",
              o.generator.out_channels, " and the critic takes ", o.critic.image_size, "x",
              o.critic.image_size, "x", o.critic.in_channels);
}

// The fixed grid of sample_cols samples per class: one row per class, noise from its own
// stream so that it does not depend on the networks' sizes.
GeneratorWithNoise generator_with_grid_noise(std::shared_ptr<models::ConditionalGenerator> g,
                                             const GanTrainOptions& o, int64_t classes) {
  RandomGenerator noise_rng(o.seed ^ 0x5a4d504c45ULL);  // "ZMPLE": any constant, fixed forever
  const int64_t grid_n = classes * o.sample_cols;
  std::vector<int64_t> grid_labels(static_cast<size_t>(grid_n));
  for (int64_t i = 0; i < grid_n; ++i) grid_labels[static_cast<size_t>(i)] = i / o.sample_cols;
  return GeneratorWithNoise(std::move(g), rand_normal({grid_n, o.generator.latent_dim}, noise_rng),
                            from_vector(grid_labels, {grid_n}, {.dtype = DType::Int64}));
}

// The two networks, built from the seed (generator first) and placed on the device before the
// optimizers take their parameters. The same generator `rng` then feeds the training noise and
// the penalty's interpolation weights (and is saved with the checkpoint).
struct GanNetworks {
  RandomGenerator rng;
  std::shared_ptr<models::ConditionalGenerator> generator;
  std::shared_ptr<models::ProjectionCritic> critic;
  GeneratorWithNoise g_side;

  GanNetworks(const GanTrainOptions& o, int64_t classes)
      : rng(o.seed),
        generator(std::make_shared<models::ConditionalGenerator>(o.generator, rng)),
        critic(std::make_shared<models::ProjectionCritic>(o.critic, rng)),
        g_side(generator_with_grid_noise(generator, o, classes)) {
    g_side.to(o.device);
    critic->to(o.device);
    generator->train();
    critic->train();
  }
};

// Everything a run carries from step to step: the networks, their optimizers, the EMA, the
// loader, the checkpoint slot and the history.
struct GanRun {
  const GanTrainOptions& o;
  const bool wgan;
  const int64_t classes;
  GanNetworks nets;
  models::ConditionalGenerator& generator;
  const std::vector<Tensor> d_params;
  optim::Adam g_opt, d_opt;
  std::optional<optim::ExponentialMovingAverage> ema;
  optim::CheckpointParts g_parts, d_parts;
  const CriticFn d;
  const fs::path manifest_path;
  const std::string data_digest;
  datasets::Loader loader;
  std::string slot;          // the slot the manifest names ("" before the first checkpoint)
  int64_t first_epoch = 0;   // 0-based: the first epoch this process runs
  std::vector<GanEpochRecord> history;
  GanTrainResult result;
  Clock::time_point start;   // of this process's first epoch (for the progress lines' rate)
  int64_t images_this_session = 0;
  // Eager, or on CUDA captured once and replayed (o.cuda_graphs): each kind of step its graph.
  training::GraphedStep critic_steps, generator_steps;
  // EMBER_PROFILE (off when unset): a step is a critic step and the generator step after it.
  training::ProfiledSteps profile{profiler::settings_from_env()};

  GanRun(const datasets::ImageSet& train, const GanTrainOptions& options)
      : o(options),
        wgan(o.loss == "wgan-gp"),
        classes(static_cast<int64_t>(train.class_names.size())),
        nets(o, classes),
        generator(*nets.generator),
        d_params(nets.critic->parameters()),
        g_opt(nets.generator->parameters(), {.lr = o.g_lr, .beta1 = o.beta1, .beta2 = o.beta2}),
        d_opt(d_params, {.lr = o.d_lr, .beta1 = o.beta1, .beta2 = o.beta2}),
        d(critic_fn(*nets.critic)),
        manifest_path(o.out_dir / "checkpoint.json"),
        data_digest(datasets::list_digest(train)),
        loader(train, {.batch_size = o.batch_size,
                       .shuffle = true,
                       .seed = o.seed,
                       // A tiny last batch would give BatchNorm noisy statistics.
                       .last_batch = datasets::LastBatch::Drop,
                       .balanced = o.balanced,
                       .device = o.device,
                       // Uploaded as uint8; critic_update maps them to [-1, 1] on the device.
                       .pixel_dtype = DType::UInt8}),
        critic_steps({.enabled = o.cuda_graphs, .device = o.device}),
        generator_steps({.enabled = o.cuda_graphs, .device = o.device}) {
    // TensorFlow's num_updates warm-up (decay_t = min(decay, (1 + n) / (10 + n))): without it a
    // decay of 0.999 keeps 70% of the random initial weights after 350 generator steps, and a
    // short run's samples are a flat colour (seen on the CPU machine).
    if (o.ema_decay > 0) ema.emplace(generator, o.ema_decay, /*num_updates_warmup=*/true);
    g_parts = {.model = &nets.g_side,
               .optimizer = &g_opt,
               .ema = ema ? &*ema : nullptr,
               .generators = {{"train", &nets.rng}}};
    d_parts = {.model = nets.critic.get(), .optimizer = &d_opt, .generators = {}};
    result.generator_parameters = generator.num_trainable_parameters();
    result.critic_parameters = nets.critic->num_trainable_parameters();
    result.generator_path = o.out_dir / "generator.safetensors";
  }
  GanRun(const GanRun&) = delete;  // the checkpoint parts point into it

  fs::path slot_dir(const std::string& s) const { return o.out_dir / ("checkpoint_" + s); }
  std::string last_good() const {
    return slot.empty() ? std::string("(none yet)")
                        : manifest_path.string() + " -> " + slot_dir(slot).string();
  }
  Tensor noise(int64_t n) {
    return rand_normal({n, o.generator.latent_dim}, nets.rng, {.device = o.device});
  }
};

void log_networks(const GanRun& run, RunLog& log) {
  log.line(run.generator.summary());
  log.line(run.nets.critic->summary());
  log.line(format("generator: %lld parameters; critic: %lld parameters",
                  static_cast<long long>(run.result.generator_parameters),
                  static_cast<long long>(run.result.critic_parameters)));
}

void log_plan(const GanRun& run, RunLog& log) {
  const GanTrainOptions& o = run.o;
  log.line(format(
      "training: %s, %lld images, %lld batches of %lld per epoch%s, %lld epochs, "
      "Adam G lr %g / D lr %g betas (%g, %g), n_critic %lld%s%s, on %s",
      o.loss.c_str(), static_cast<long long>(run.loader.epoch_size()),
      static_cast<long long>(run.loader.batches_per_epoch()),
      static_cast<long long>(o.batch_size), o.balanced ? " (class-balanced sampler)" : "",
      static_cast<long long>(o.epochs), o.g_lr, o.d_lr, o.beta1, o.beta2,
      static_cast<long long>(o.n_critic),
      run.wgan ? format(", gp weight %g", o.gp_weight).c_str() : "",
      run.ema ? format(", EMA %g", o.ema_decay).c_str() : "", o.device.str().c_str()));
  if (run.critic_steps.replaying())
    log.line(format("CUDA graphs: the critic and generator steps are each captured after %lld "
                    "eager warm-up steps and then replayed (--cuda-graphs off: every step eager)",
                    static_cast<long long>(run.critic_steps.warmup_steps())));
  else if (o.cuda_graphs && o.device.is_cuda())
    log.line("CUDA graphs: off, every step eager: " + run.critic_steps.unavailable_reason());
}

// Reads and checks the manifest (format, configuration, data) before anything is loaded.
nlohmann::json read_manifest(const GanRun& run) {
  const std::string path = run.manifest_path.string();
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(read_file(path));
    EMBER_CHECK(m.at("format") == kManifestFormat, "checkpoint manifest ", path, " has format ",
                m.at("format").dump(), ", not ", kManifestFormat);
  } catch (const nlohmann::json::exception& e) {
    EMBER_FAIL("cannot resume: the checkpoint manifest ", path, " is unreadable: ", e.what());
  }
  const std::string key = m.at("config_key");
  EMBER_CHECK(key == run.o.config_key, "cannot resume from ", path,
              ": it was written by a run with another configuration\n  its:  ", key,
              "\n  this: ", run.o.config_key);
  const std::string trained_on = m.value("data_digest", std::string("(not recorded)"));
  EMBER_CHECK(trained_on == run.data_digest, "cannot resume from ", path,
              ": it was trained on other data (the data folder, a split list or the subset "
              "changed)\n  its:  ", trained_on, "\n  this: ", run.data_digest);
  return m;
}

// Restores the state the manifest names: both networks, their Adams, the EMA, the training
// RNG and the history, so the run goes on bit-identically.
void resume_from(GanRun& run, RunLog& log) {
  const nlohmann::json m = read_manifest(run);
  run.slot = m.at("slot");
  run.first_epoch = m.at("epoch");
  const std::string g_file = (run.slot_dir(run.slot) / "generator.safetensors").string();
  const std::string d_file = (run.slot_dir(run.slot) / "critic.safetensors").string();
  const optim::CheckpointInfo gi = optim::load_checkpoint(g_file, run.g_parts);
  const optim::CheckpointInfo di = optim::load_checkpoint(d_file, run.d_parts);
  EMBER_CHECK(gi.epoch == run.first_epoch && di.epoch == run.first_epoch, "cannot resume: ",
              g_file, " (epoch ", gi.epoch, ") and ", d_file, " (epoch ", di.epoch,
              ") do not match the manifest's epoch ", run.first_epoch);
  run.history = history_from_json(m.at("history"));
  run.result.resumed = true;
  run.result.resumed_from_epoch = run.first_epoch;
  log.line(format("resumed from %s (slot %s) after epoch %lld", run.manifest_path.c_str(),
                  run.slot.c_str(), static_cast<long long>(run.first_epoch)));
}

// A non-finite loss, or one above explode_threshold, ends the run naming the last good
// checkpoint (which the run has not touched since).
void check_loss(const GanRun& run, double value, const char* what, int64_t epoch, int64_t batch) {
  const GanTrainOptions& o = run.o;
  EMBER_CHECK(
      std::isfinite(value) && std::abs(value) <= o.explode_threshold, "training diverged: the ",
      what, " loss is ", value,
      std::isfinite(value) ? format(" (|loss| > %g, --explode-threshold)", o.explode_threshold)
                           : std::string(),
      " at epoch ", epoch + 1, ", batch ", batch + 1, " (critic step ", run.d_opt.step_count(),
      ", generator step ", run.g_opt.step_count(), "). The last good checkpoint is ",
      run.last_good(), " (untouched); try lower learning rates");
}

// One critic update on a batch: fresh fakes (no graph into the generator) with the batch's
// labels, the WGAN-GP or BCE critic loss, one Adam step. Returns the loss and its parts
// (detached scalars on the device) and reads nothing back, so it can be captured in a CUDA graph.
std::vector<Tensor> critic_update(GanRun& run, const Tensor& images, const Tensor& labels) {
  // x / 127.5 - 1 in one pass from the uint8 pixels: the bits the float32 batch gave.
  const Tensor real = rescale_normalize(images, {.scale = 1.0 / 127.5, .offset = -1.0,
                                                 .mean = Tensor(), .variance = Tensor()});
  Tensor fake;
  {
    NoGradGuard no_grad;
    fake = run.generator(run.noise(labels.numel()), labels);
  }
  run.d_opt.zero_grad(/*set_to_none=*/true);  // backward assigns: no fill, no add
  const CriticLossParts parts =
      run.wgan ? wgan_gp_critic_loss(run.d, real, fake, labels, run.nets.rng,
                                     {.penalty_weight = run.o.gp_weight})
               : bce_discriminator_loss(run.d, real, fake, labels);
  parts.loss.backward();
  run.d_opt.step();
  return {parts.loss.detach(), parts.penalty.detach(), parts.wasserstein.detach(),
          parts.real_score.detach(), parts.fake_score.detach()};
}

// One critic step, eager or replayed from its CUDA graph (run.critic_steps). A diverged loss
// ends the run: the checkpoint on disk is the last good state, whatever the step changed here.
void critic_step(GanRun& run, const datasets::Batch& batch, int64_t epoch, EpochSums& s) {
  const int64_t b = batch.labels.numel();
  const std::vector<Tensor> out =
      run.critic_steps.run({batch.images, batch.labels}, [&run](const std::vector<Tensor>& in) {
        return critic_update(run, in[0], in[1]);
      });
  const double d_loss = out[0].item<double>();
  check_loss(run, d_loss, "critic", epoch, batch.number);
  s.d_loss += d_loss;
  s.penalty += out[1].item<double>();
  s.wasserstein += out[2].item<double>();
  s.d_real += out[3].item<double>();
  s.d_fake += out[4].item<double>();
  ++s.d_steps;
  s.images += b;
}

// One generator update: fresh fakes through the critic, one Adam step, the EMA. The critic's
// weights need no gradient here: only its input gradient flows back to the generator. Returns
// the loss, detached; reads nothing back.
Tensor generator_update(GanRun& run, const Tensor& labels) {
  for (Tensor p : run.d_params) p.set_requires_grad(false);
  run.g_opt.zero_grad(/*set_to_none=*/true);
  const Tensor g_fake = run.generator(run.noise(labels.numel()), labels);
  const Tensor g_loss = run.wgan ? wgan_generator_loss(run.d, g_fake, labels)
                                 : bce_generator_loss(run.d, g_fake, labels);
  g_loss.backward();
  for (Tensor p : run.d_params) p.set_requires_grad(true);
  run.g_opt.step();
  if (run.ema) run.ema->update();
  return g_loss.detach();
}

// One generator step, eager or replayed from its CUDA graph (run.generator_steps).
void generator_step(GanRun& run, const datasets::Batch& batch, int64_t epoch, EpochSums& s) {
  const std::vector<Tensor> out =
      run.generator_steps.run({batch.labels}, [&run](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{generator_update(run, in[0])};
      });
  const double g_value = out[0].item<double>();
  check_loss(run, g_value, "generator", epoch, batch.number);
  s.g_loss += g_value;
  ++s.g_steps;
}

// Every progress_every critic steps (except the epoch's last): running means and an ETA.
void log_progress(const GanRun& run, int64_t epoch, int64_t batch_number, const EpochSums& s,
                  RunLog& log) {
  const GanTrainOptions& o = run.o;
  const int64_t batches = run.loader.batches_per_epoch();
  if (o.progress_every <= 0 || (batch_number + 1) % o.progress_every != 0 ||
      batch_number + 1 >= batches)
    return;
  const double rate = (run.images_this_session + s.images) / seconds_since(run.start);
  const double left_images =
      static_cast<double>((o.epochs - epoch) * batches - (batch_number + 1)) *
      static_cast<double>(o.batch_size);
  log.progress(format("  epoch %lld batch %lld/%lld  d_loss %.4f  g_loss %.4f  W %.4f%s"
                      "  %.1f img/s  ETA %s",
                      static_cast<long long>(epoch + 1), static_cast<long long>(batch_number + 1),
                      static_cast<long long>(batches), s.d_loss / s.d_steps,
                      s.g_steps ? s.g_loss / s.g_steps : 0.0, s.wasserstein / s.d_steps,
                      run.wgan ? format("  gp %.4f", s.penalty / s.d_steps).c_str() : "", rate,
                      format_duration(left_images / rate).c_str()));
}

// One pass over the loader: a critic step per batch and, every n_critic critic steps (counted
// over the run, so a resumed run keeps the rhythm), a generator step.
EpochSums train_one_epoch(GanRun& run, int64_t epoch, RunLog& log) {
  EpochSums s;
  run.loader.start_epoch(epoch);
  while (std::optional<datasets::Batch> batch = run.loader.next()) {
    run.profile.begin_step();
    critic_step(run, *batch, epoch, s);
    if (run.d_opt.step_count() % run.o.n_critic == 0) generator_step(run, *batch, epoch, s);
    if (const std::string wrote = run.profile.end_step(); !wrote.empty()) log.line(wrote);
    log_progress(run, epoch, batch->number, s, log);
  }
  run.images_this_session += s.images;
  return s;
}

// The epoch's means from its sums (seconds are filled in later).
GanEpochRecord epoch_record(int64_t epoch, const EpochSums& s, double train_seconds) {
  GanEpochRecord r;
  r.epoch = epoch + 1;
  r.d_steps = s.d_steps;
  r.g_steps = s.g_steps;
  const double dn = static_cast<double>(std::max<int64_t>(s.d_steps, 1));
  r.d_loss = s.d_loss / dn;
  r.penalty = s.penalty / dn;
  r.wasserstein = s.wasserstein / dn;
  r.d_real = s.d_real / dn;
  r.d_fake = s.d_fake / dn;
  r.g_loss = s.g_steps ? s.g_loss / static_cast<double>(s.g_steps) : 0.0;
  r.images_per_second = s.images / train_seconds;
  return r;
}

// The fixed-noise grid from the generator in eval() mode (the EMA weights when kept).
fs::path write_samples(GanRun& run, int64_t epoch) {
  NoGradGuard no_grad;
  if (run.ema) run.ema->swap_in();
  run.generator.eval();
  const Tensor images = run.generator(run.nets.g_side.noise(), run.nets.g_side.labels());
  run.generator.train();
  if (run.ema) run.ema->restore();
  const fs::path path =
      run.o.out_dir / "samples" / format("epoch_%04lld.png", static_cast<long long>(epoch + 1));
  write_image_grid(path, images, run.classes, run.o.sample_cols);
  return path;
}

// The pair into the slot the manifest does not name, then the manifest (the commit point):
// a kill at any moment leaves the manifest naming a complete pair.
void save_checkpoint(GanRun& run, int64_t epoch) {
  const std::string next_slot = run.slot == "a" ? "b" : "a";
  const fs::path dir = run.slot_dir(next_slot);
  fs::create_directories(dir);
  optim::save_checkpoint((dir / "generator.safetensors").string(), run.g_parts,
                         {.epoch = epoch + 1, .step = run.g_opt.step_count(), .metadata = {}});
  optim::save_checkpoint((dir / "critic.safetensors").string(), run.d_parts,
                         {.epoch = epoch + 1, .step = run.d_opt.step_count(), .metadata = {}});
  const nlohmann::json manifest = {{"format", kManifestFormat},
                                   {"slot", next_slot},
                                   {"epoch", epoch + 1},
                                   {"d_steps", run.d_opt.step_count()},
                                   {"g_steps", run.g_opt.step_count()},
                                   {"config_key", run.o.config_key},
                                   {"data_digest", run.data_digest},
                                   {"history", history_json(run.history)}};
  write_file_atomically(run.manifest_path.string(), manifest.dump(1) + "\n");
  run.slot = next_slot;
}

void log_epoch(const GanRun& run, const GanEpochRecord& r, const std::string& grid_note,
               RunLog& log) {
  double mean_epoch = 0;
  for (const GanEpochRecord& h : run.history) mean_epoch += h.seconds;
  mean_epoch /= static_cast<double>(run.history.size());
  log.line(format("epoch %lld/%lld  d_loss %.4f  g_loss %.4f  W %.4f%s  D(real) %.3f  "
                  "D(fake) %.3f  %.1f img/s  %s/epoch  ETA %s%s",
                  static_cast<long long>(r.epoch), static_cast<long long>(run.o.epochs), r.d_loss,
                  r.g_loss, r.wasserstein, run.wgan ? format("  gp %.4f", r.penalty).c_str() : "",
                  r.d_real, r.d_fake, r.images_per_second, format_duration(r.seconds).c_str(),
                  format_duration(mean_epoch * (run.o.epochs - r.epoch)).c_str(),
                  grid_note.c_str()));
}

// After an epoch: its record, the sample grid when due (and at the end), the checkpoint pair,
// losses.csv and the log line.
void end_of_epoch(GanRun& run, int64_t epoch, const EpochSums& s, Clock::time_point epoch_start,
                  RunLog& log) {
  GanEpochRecord r = epoch_record(epoch, s, seconds_since(epoch_start));
  std::string grid_note;
  if ((epoch + 1) % run.o.sample_every == 0 || epoch + 1 == run.o.epochs)
    grid_note = "  -> " + write_samples(run, epoch).filename().string();
  r.seconds = seconds_since(epoch_start);
  run.history.push_back(r);
  save_checkpoint(run, epoch);
  write_file_atomically((run.o.out_dir / "losses.csv").string(), gan_history_csv(run.history));
  log_epoch(run, r, grid_note, log);
}

// The generator for apps/generate: EMA weights when kept (BN statistics are the trained
// generator's, as optim/ema.h explains).
void save_generator(GanRun& run, RunLog& log) {
  const GanTrainOptions& o = run.o;
  nn::SafetensorsMetadata meta = o.generator_metadata;
  meta["ema"] = run.ema ? "1" : "0";
  if (run.ema) meta["ema_decay"] = format("%g", o.ema_decay);
  if (run.ema) meta["ema_warmup"] = "1";
  meta["epochs"] = std::to_string(run.history.empty() ? 0 : run.history.back().epoch);
  meta["loss"] = o.loss;
  meta["generator_steps"] = std::to_string(run.g_opt.step_count());
  if (run.ema) run.ema->swap_in();
  models::save_generator_file(run.generator, run.result.generator_path.string(), meta);
  if (run.ema) run.ema->restore();
  log.line("wrote " + run.result.generator_path.string() +
           (run.ema ? " (EMA weights)" : " (trained weights)"));
}

}  // namespace

void apply_gan_loss_defaults(GanTrainOptions& o) {
  if (o.loss == "wgan-gp") {
    o.g_lr = o.d_lr = 1e-4;
    o.beta1 = 0.0;
    o.beta2 = 0.9;
    o.n_critic = 5;
    o.gp_weight = 10.0;
  } else if (o.loss == "bce") {
    o.g_lr = o.d_lr = 3e-4;
    o.beta1 = 0.9;
    o.beta2 = 0.999;
    o.n_critic = 1;
  } else {
    EMBER_FAIL("train_gan: unknown loss '", o.loss, "' (wgan-gp or bce)");
  }
}

std::string gan_history_csv(const std::vector<GanEpochRecord>& history) {
  std::string out =
      "epoch,d_loss,g_loss,wasserstein,penalty,d_real,d_fake,d_steps,g_steps,seconds,"
      "images_per_second\n";
  for (const GanEpochRecord& r : history) {
    out += format("%lld,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%lld,%lld,%.3f,%.2f\n",
                  static_cast<long long>(r.epoch), r.d_loss, r.g_loss, r.wasserstein, r.penalty,
                  r.d_real, r.d_fake, static_cast<long long>(r.d_steps),
                  static_cast<long long>(r.g_steps), r.seconds, r.images_per_second);
  }
  return out;
}

GanTrainResult train_gan(const datasets::ImageSet& train, const GanTrainOptions& o, RunLog& log) {
  check_gan_options(train, o);
  fs::create_directories(o.out_dir / "samples");
  GanRun run(train, o);
  log_networks(run, log);
  if (o.resume && fs::exists(run.manifest_path)) resume_from(run, log);
  log_plan(run, log);

  run.start = Clock::now();
  for (int64_t epoch = run.first_epoch; epoch < o.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    const EpochSums sums = train_one_epoch(run, epoch, log);
    end_of_epoch(run, epoch, sums, epoch_start, log);
  }
  if (const std::string wrote = run.profile.finish(); !wrote.empty()) log.line(wrote);
  save_generator(run, log);
  run.result.history = run.history;
  return run.result;
}

}  // namespace ember::training
