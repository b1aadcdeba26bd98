// The conditional GAN training loop (see trainer.h).
#include "gan/trainer.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "autograd/grad_mode.h"
#include "datasets/loader.h"
#include "gan/networks_io.h"
#include "nn/safetensors.h"
#include "ops/ops.h"
#include "ops/random.h"
#include "optim/adam.h"
#include "optim/checkpoint.h"
#include "optim/ema.h"
#include "tensor/atomic_file.h"
#include "gan/losses.h"
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
  fs::create_directories(o.out_dir / "samples");
  const bool wgan = o.loss == "wgan-gp";

  // Networks: weights drawn from the seed, generator first; the same generator then feeds the
  // training noise (and is saved with the checkpoint).
  RandomGenerator rng(o.seed);
  auto generator = std::make_shared<models::ConditionalGenerator>(o.generator, rng);
  auto critic = std::make_shared<models::ProjectionCritic>(o.critic, rng);
  // Fixed sampling noise from its own stream, so it does not depend on the networks' sizes.
  RandomGenerator noise_rng(o.seed ^ 0x5a4d504c45ULL);  // "ZMPLE": any constant, fixed forever
  const int64_t grid_n = classes * o.sample_cols;
  std::vector<int64_t> grid_labels(static_cast<size_t>(grid_n));
  for (int64_t i = 0; i < grid_n; ++i) grid_labels[static_cast<size_t>(i)] = i / o.sample_cols;
  GeneratorWithNoise g_side(generator, rand_normal({grid_n, o.generator.latent_dim}, noise_rng),
                            from_vector(grid_labels, {grid_n}, {.dtype = DType::Int64}));
  g_side.to(o.device);
  critic->to(o.device);
  generator->train();
  critic->train();

  GanTrainResult result;
  result.generator_parameters = generator->num_trainable_parameters();
  result.critic_parameters = critic->num_trainable_parameters();
  result.generator_path = o.out_dir / "generator.safetensors";
  log.line(generator->summary());
  log.line(critic->summary());
  log.line(format("generator: %lld parameters; critic: %lld parameters",
                  static_cast<long long>(result.generator_parameters),
                  static_cast<long long>(result.critic_parameters)));

  const std::vector<Tensor> g_params = generator->parameters();
  const std::vector<Tensor> d_params = critic->parameters();
  optim::Adam g_opt(g_params, {.lr = o.g_lr, .beta1 = o.beta1, .beta2 = o.beta2});
  optim::Adam d_opt(d_params, {.lr = o.d_lr, .beta1 = o.beta1, .beta2 = o.beta2});
  std::optional<optim::ExponentialMovingAverage> ema;
  // TensorFlow's num_updates warm-up (decay_t = min(decay, (1 + n) / (10 + n))): without it a
  // decay of 0.999 keeps 70% of the random initial weights after 350 generator steps, and a
  // short run's samples are a flat colour (seen on the CPU machine).
  if (o.ema_decay > 0) ema.emplace(*generator, o.ema_decay, /*num_updates_warmup=*/true);

  const fs::path manifest_path = o.out_dir / "checkpoint.json";
  auto slot_dir = [&](const std::string& slot) { return o.out_dir / ("checkpoint_" + slot); };
  const optim::CheckpointParts g_parts{.model = &g_side,
                                       .optimizer = &g_opt,
                                       .ema = ema ? &*ema : nullptr,
                                       .generators = {{"train", &rng}}};
  const optim::CheckpointParts d_parts{
      .model = critic.get(), .optimizer = &d_opt, .generators = {}};

  std::vector<GanEpochRecord> history;
  const std::string data_digest = datasets::list_digest(train);
  std::string slot;  // the slot the manifest names ("" before the first checkpoint)
  int64_t first_epoch = 0;
  if (o.resume && fs::exists(manifest_path)) {
    nlohmann::json m;
    try {
      m = nlohmann::json::parse(read_file(manifest_path.string()));
      EMBER_CHECK(m.at("format") == kManifestFormat, "checkpoint manifest ", manifest_path.string(),
                  " has format ", m.at("format").dump(), ", not ", kManifestFormat);
    } catch (const nlohmann::json::exception& e) {
      EMBER_FAIL("cannot resume: the checkpoint manifest ", manifest_path.string(),
                 " is unreadable: ", e.what());
    }
    const std::string key = m.at("config_key");
    EMBER_CHECK(key == o.config_key, "cannot resume from ", manifest_path.string(),
                ": it was written by a run with another configuration\n  its:  ", key,
                "\n  this: ", o.config_key);
    const std::string trained_on = m.value("data_digest", std::string("(not recorded)"));
    EMBER_CHECK(trained_on == data_digest, "cannot resume from ", manifest_path.string(),
                ": it was trained on other data (the data folder, a split list or the subset "
                "changed)\n  its:  ", trained_on, "\n  this: ", data_digest);
    slot = m.at("slot");
    first_epoch = m.at("epoch");
    const std::string g_file = (slot_dir(slot) / "generator.safetensors").string();
    const std::string d_file = (slot_dir(slot) / "critic.safetensors").string();
    const optim::CheckpointInfo gi = optim::load_checkpoint(g_file, g_parts);
    const optim::CheckpointInfo di = optim::load_checkpoint(d_file, d_parts);
    EMBER_CHECK(gi.epoch == first_epoch && di.epoch == first_epoch, "cannot resume: ", g_file,
                " (epoch ", gi.epoch, ") and ", d_file, " (epoch ", di.epoch,
                ") do not match the manifest's epoch ", first_epoch);
    history = history_from_json(m.at("history"));
    result.resumed = true;
    result.resumed_from_epoch = first_epoch;
    log.line(format("resumed from %s (slot %s) after epoch %lld", manifest_path.c_str(),
                    slot.c_str(), static_cast<long long>(first_epoch)));
  }
  auto last_good = [&]() {
    return slot.empty() ? std::string("(none yet)")
                        : manifest_path.string() + " -> " + slot_dir(slot).string();
  };

  datasets::Loader loader(train, {.batch_size = o.batch_size,
                                  .shuffle = true,
                                  .seed = o.seed,
                                  // A tiny last batch would give BatchNorm noisy statistics.
                                  .last_batch = datasets::LastBatch::Drop,
                                  .balanced = o.balanced,
                                  .device = o.device});
  const int64_t batches = loader.batches_per_epoch();
  log.line(format(
      "training: %s, %lld images, %lld batches of %lld per epoch%s, %lld epochs, "
      "Adam G lr %g / D lr %g betas (%g, %g), n_critic %lld%s%s, on %s",
      o.loss.c_str(), static_cast<long long>(loader.epoch_size()), static_cast<long long>(batches),
      static_cast<long long>(o.batch_size), o.balanced ? " (class-balanced sampler)" : "",
      static_cast<long long>(o.epochs), o.g_lr, o.d_lr, o.beta1, o.beta2,
      static_cast<long long>(o.n_critic), wgan ? format(", gp weight %g", o.gp_weight).c_str() : "",
      ema ? format(", EMA %g", o.ema_decay).c_str() : "", o.device.str().c_str()));

  const CriticFn d = critic_fn(*critic);
  const TensorOptions on_device{.device = o.device};
  auto check_loss = [&](double value, const char* what, int64_t epoch, int64_t batch) {
    EMBER_CHECK(
        std::isfinite(value) && std::abs(value) <= o.explode_threshold, "training diverged: the ",
        what, " loss is ", value,
        std::isfinite(value) ? format(" (|loss| > %g, --explode-threshold)", o.explode_threshold)
                             : std::string(),
        " at epoch ", epoch + 1, ", batch ", batch + 1, " (critic step ", d_opt.step_count(),
        ", generator step ", g_opt.step_count(), "). The last good checkpoint is ", last_good(),
        " (untouched); try lower learning rates");
  };

  auto write_samples = [&](int64_t epoch) {
    NoGradGuard no_grad;
    if (ema) ema->swap_in();
    generator->eval();
    const Tensor images = (*generator)(g_side.noise(), g_side.labels());
    generator->train();
    if (ema) ema->restore();
    const fs::path path =
        o.out_dir / "samples" / format("epoch_%04lld.png", static_cast<long long>(epoch + 1));
    write_image_grid(path, images, classes, o.sample_cols);
    return path;
  };

  const auto run_start = Clock::now();
  int64_t images_this_session = 0;
  for (int64_t epoch = first_epoch; epoch < o.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    EpochSums s;
    loader.start_epoch(epoch);
    while (std::optional<datasets::Batch> batch = loader.next()) {
      const Tensor real = batch->images * (1.0 / 127.5) - 1.0;
      const Tensor& labels = batch->labels;
      const int64_t b = labels.numel();

      // Critic step on fresh fakes (no graph into the generator).
      Tensor fake;
      {
        NoGradGuard no_grad;
        fake = (*generator)(rand_normal({b, o.generator.latent_dim}, rng, on_device), labels);
      }
      d_opt.zero_grad();
      const CriticLossParts parts =
          wgan ? wgan_gp_critic_loss(d, real, fake, labels, rng, {.penalty_weight = o.gp_weight})
               : bce_discriminator_loss(d, real, fake, labels);
      parts.loss.backward();
      const double d_loss = parts.loss.item<double>();
      check_loss(d_loss, "critic", epoch, batch->number);
      d_opt.step();
      s.d_loss += d_loss;
      s.penalty += parts.penalty.item<double>();
      s.wasserstein += parts.wasserstein.item<double>();
      s.d_real += parts.real_score.item<double>();
      s.d_fake += parts.fake_score.item<double>();
      ++s.d_steps;
      s.images += b;

      // Generator step every n_critic critic steps (counted over the run, so resume keeps the
      // rhythm). The critic's weights need no gradient here: only its input gradient flows.
      if (d_opt.step_count() % o.n_critic == 0) {
        for (Tensor p : d_params) p.set_requires_grad(false);
        g_opt.zero_grad();
        const Tensor g_fake =
            (*generator)(rand_normal({b, o.generator.latent_dim}, rng, on_device), labels);
        const Tensor g_loss =
            wgan ? wgan_generator_loss(d, g_fake, labels) : bce_generator_loss(d, g_fake, labels);
        g_loss.backward();
        for (Tensor p : d_params) p.set_requires_grad(true);
        const double g_value = g_loss.item<double>();
        check_loss(g_value, "generator", epoch, batch->number);
        g_opt.step();
        if (ema) ema->update();
        s.g_loss += g_value;
        ++s.g_steps;
      }

      if (o.progress_every > 0 && (batch->number + 1) % o.progress_every == 0 &&
          batch->number + 1 < batches) {
        const double rate = (images_this_session + s.images) / seconds_since(run_start);
        const double left_images =
            static_cast<double>((o.epochs - epoch) * batches - (batch->number + 1)) *
            static_cast<double>(o.batch_size);
        log.progress(
            format("  epoch %lld batch %lld/%lld  d_loss %.4f  g_loss %.4f  W %.4f%s"
                   "  %.1f img/s  ETA %s",
                   static_cast<long long>(epoch + 1), static_cast<long long>(batch->number + 1),
                   static_cast<long long>(batches), s.d_loss / s.d_steps,
                   s.g_steps ? s.g_loss / s.g_steps : 0.0, s.wasserstein / s.d_steps,
                   wgan ? format("  gp %.4f", s.penalty / s.d_steps).c_str() : "", rate,
                   format_duration(left_images / rate).c_str()));
      }
    }
    images_this_session += s.images;

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
    const double train_seconds = seconds_since(epoch_start);
    r.images_per_second = s.images / train_seconds;

    std::string grid_note;
    if ((epoch + 1) % o.sample_every == 0 || epoch + 1 == o.epochs)
      grid_note = "  -> " + write_samples(epoch).filename().string();
    r.seconds = seconds_since(epoch_start);
    history.push_back(r);

    // Checkpoint: the pair into the other slot, then the manifest (the commit point).
    const std::string next_slot = slot == "a" ? "b" : "a";
    fs::create_directories(slot_dir(next_slot));
    const optim::CheckpointInfo info{
        .epoch = epoch + 1, .step = g_opt.step_count(), .metadata = {}};
    optim::save_checkpoint((slot_dir(next_slot) / "generator.safetensors").string(), g_parts, info);
    optim::save_checkpoint((slot_dir(next_slot) / "critic.safetensors").string(), d_parts,
                           {.epoch = epoch + 1, .step = d_opt.step_count(), .metadata = {}});
    const nlohmann::json manifest = {{"format", kManifestFormat},
                                     {"slot", next_slot},
                                     {"epoch", epoch + 1},
                                     {"d_steps", d_opt.step_count()},
                                     {"g_steps", g_opt.step_count()},
                                     {"config_key", o.config_key},
                                     {"data_digest", data_digest},
                                     {"history", history_json(history)}};
    write_file_atomically(manifest_path.string(), manifest.dump(1) + "\n");
    slot = next_slot;
    write_file_atomically((o.out_dir / "losses.csv").string(), gan_history_csv(history));

    double mean_epoch = 0;
    for (const GanEpochRecord& h : history) mean_epoch += h.seconds;
    mean_epoch /= static_cast<double>(history.size());
    log.line(
        format("epoch %lld/%lld  d_loss %.4f  g_loss %.4f  W %.4f%s  D(real) %.3f  "
               "D(fake) %.3f  %.1f img/s  %s/epoch  ETA %s%s",
               static_cast<long long>(epoch + 1), static_cast<long long>(o.epochs), r.d_loss,
               r.g_loss, r.wasserstein, wgan ? format("  gp %.4f", r.penalty).c_str() : "",
               r.d_real, r.d_fake, r.images_per_second, format_duration(r.seconds).c_str(),
               format_duration(mean_epoch * (o.epochs - epoch - 1)).c_str(), grid_note.c_str()));
  }

  // The generator for apps/generate: EMA weights when kept (BN statistics are the trained
  // generator's, as optim/ema.h explains).
  nn::SafetensorsMetadata meta = o.generator_metadata;
  meta["ema"] = ema ? "1" : "0";
  if (ema) meta["ema_decay"] = format("%g", o.ema_decay);
  if (ema) meta["ema_warmup"] = "1";
  meta["epochs"] = std::to_string(history.empty() ? 0 : history.back().epoch);
  meta["loss"] = o.loss;
  meta["generator_steps"] = std::to_string(g_opt.step_count());
  if (ema) ema->swap_in();
  models::save_generator_file(*generator, result.generator_path.string(), meta);
  if (ema) ema->restore();
  log.line("wrote " + result.generator_path.string() +
           (ema ? " (EMA weights)" : " (trained weights)"));
  result.history = history;
  return result;
}

}  // namespace ember::training
