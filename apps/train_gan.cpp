// train_gan: trains the conditional GAN of issue 6 (models/gan.h: a label-conditioned
// generator against a projection critic) on one of the experiment's EuroSAT training sets,
// with WGAN-GP (default) or the classic non-saturating BCE loss (training/gan_trainer.h).
//
//   ./build/apps/train_gan --variant balanced --epochs 100 --ema 0.999 --out runs/gan-balanced
//
// Training sets (images from the standard training split only):
//   full        the standard training split (the seed's final choice)
//   unbalanced  Highway and River cut to 15% (datasets/derived.h; --subset-seed picks which)
//   balanced    the unbalanced set through the class-balanced sampler (the fix the seed named)
// Files in --out: train.log (every line printed, appended on resume), config.json, losses.csv,
// samples/epoch_XXXX.png, checkpoint.json + checkpoint_{a,b}/ (resumable state),
// generator.safetensors (for apps/generate; EMA weights with --ema).
// An existing run folder is never overwritten: --resume continues it.
// Exit status: 0 done, 1 a data or training error (divergence included), 2 a bad flag.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/derived.h"
#include "datasets/eurosat.h"
#include "models/gan.h"
#include "models/gan_io.h"
#include "tensor/atomic_file.h"
#include "training/cli.h"
#include "training/gan_trainer.h"
#include "training/run_log.h"

using namespace ember;
using namespace ember::training;
namespace fs = std::filesystem;

namespace {

const char* kUsage = R"(usage: train_gan [flags]
data:
  --data DIR               EuroSAT root (default: $EMBER_DATA, <repo>/data, ../shared/data)
  --variant V              full | unbalanced | balanced (default full)
  --subset-seed S          which Highway/River images the unbalanced set keeps (default 0)
  --fraction F             use this stratified fraction of the training split (quick runs)
  --cache-dir DIR | --no-cache   the decoded-image cache (datasets/image_cache.h)
  --threads N              decoding threads (default: all cores)
loss and optimizers (defaults depend on --loss):
  --loss wgan-gp|bce       WGAN-GP (default) or the non-saturating BCE of the Keras example
  --lr X                   both learning rates (wgan-gp 1e-4, bce 3e-4)
  --g-lr X  --d-lr X       one network's learning rate
  --beta1 X  --beta2 X     Adam betas of both (wgan-gp 0.0, 0.9; bce 0.9, 0.999)
  --n-critic N             critic steps per generator step (wgan-gp 5, bce 1)
  --gp-weight X            gradient penalty weight lambda (10; wgan-gp only)
  --explode-threshold X    stop when |loss| exceeds this (default 1e6; NaN always stops)
networks (models/gan.h; defaults are the issue's):
  --latent-dim N (128)  --embedding-dim N (32)
  --g-widths LIST          generator stage filters, e.g. 256,128,64,32 (each doubles the size)
  --g-base-channels N      channels of the 4x4 dense output (256)
  --d-widths LIST          critic stage filters (64,128,256,512)
  --layer-norm             layer norm in the critic (all stages but the first)
  --init keras|dcgan       weight initialisation (keras)
training:
  --epochs N (20)  --batch N (64)  --seed S (0)
  --ema DECAY              keep an EMA of the generator's weights for samples and the output
                           (with TensorFlow's warm-up: min(DECAY, (1 + n) / (10 + n)))
  --sample-every N         a sample grid every N epochs and at the end (default 1)
  --sample-cols N          samples per class in a grid (default 8)
  --device cpu|cuda|cuda:N (cpu)
run:
  --out DIR                run folder (default runs/gan-<variant>-<loss>-seed<S>)
  --resume                 continue the run in --out from its last finished epoch
  --progress-every N       a progress line every N critic steps (default 20; 0: none)
)";

struct Flags {
  std::string data, variant = "full", cache_dir, out;
  uint64_t subset_seed = 0;
  double fraction = 1.0;
  int64_t threads = 0;
  bool no_cache = false;
  GanTrainOptions train;
};

std::vector<int64_t> parse_widths(const std::string& flag, const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const int64_t v = parse_int(flag, item);
    require_flag(v > 0 && v <= 65536, flag, ": widths must be in [1, 65536], got ", v);
    out.push_back(v);
  }
  require_flag(!out.empty(), flag, ": expected a comma-separated list of widths, got '", text,
               "'");
  return out;
}

Flags parse_flags(int argc, char** argv) {
  Flags f;
  GanTrainOptions& t = f.train;
  t.epochs = 20;
  // Loss-dependent values are applied after parsing (the flags may come in any order).
  std::optional<double> lr, g_lr, d_lr, beta1, beta2, gp_weight;
  std::optional<int64_t> n_critic;
  FlagReader r(argc, argv);
  while (r.next()) {
    if (r.is("--data")) f.data = r.value();
    else if (r.is("--variant")) f.variant = r.choice_value({"full", "unbalanced", "balanced"});
    else if (r.is("--subset-seed")) f.subset_seed = static_cast<uint64_t>(r.int_value(0));
    else if (r.is("--fraction")) f.fraction = r.double_value(1e-6, 1.0);
    else if (r.is("--cache-dir")) f.cache_dir = r.value();
    else if (r.is_switch("--no-cache")) f.no_cache = true;
    else if (r.is("--threads")) f.threads = r.int_value(0, 1024);
    else if (r.is("--loss")) t.loss = r.choice_value({"wgan-gp", "bce"});
    else if (r.is("--lr")) lr = r.double_value(1e-12, 10.0);
    else if (r.is("--g-lr")) g_lr = r.double_value(1e-12, 10.0);
    else if (r.is("--d-lr")) d_lr = r.double_value(1e-12, 10.0);
    else if (r.is("--beta1")) beta1 = r.double_value(0.0, 0.999999);
    else if (r.is("--beta2")) beta2 = r.double_value(0.0, 0.999999999);
    else if (r.is("--n-critic")) n_critic = r.int_value(1, 1000);
    else if (r.is("--gp-weight")) gp_weight = r.double_value(0.0, 1e6);
    else if (r.is("--explode-threshold")) t.explode_threshold = r.double_value(1e-12);
    else if (r.is("--latent-dim")) t.generator.latent_dim = r.int_value(1, 65536);
    else if (r.is("--embedding-dim")) t.generator.embedding_dim = r.int_value(1, 65536);
    else if (r.is("--g-widths")) t.generator.stage_filters = parse_widths("--g-widths", r.value());
    else if (r.is("--g-base-channels")) t.generator.base_channels = r.int_value(1, 65536);
    else if (r.is("--d-widths")) t.critic.filters = parse_widths("--d-widths", r.value());
    else if (r.is_switch("--layer-norm")) t.critic.layer_norm = true;
    else if (r.is("--init")) {
      const models::GanInit init = models::parse_gan_init(r.choice_value({"keras", "dcgan"}));
      t.generator.init = t.critic.init = init;
    }
    else if (r.is("--epochs")) t.epochs = r.int_value(1, 1000000);
    else if (r.is("--batch")) t.batch_size = r.int_value(2, 1 << 16);
    else if (r.is("--seed")) t.seed = static_cast<uint64_t>(r.int_value(0));
    else if (r.is("--ema")) t.ema_decay = r.double_value(0.0, 0.999999999);
    else if (r.is("--sample-every")) t.sample_every = r.int_value(1, 1000000);
    else if (r.is("--sample-cols")) t.sample_cols = r.int_value(1, 64);
    else if (r.is("--device")) t.device = r.device_value();
    else if (r.is("--out")) f.out = r.value();
    else if (r.is_switch("--resume")) t.resume = true;
    else if (r.is("--progress-every")) t.progress_every = r.int_value(0);
    else r.unknown();
  }
  r.exit_if_help(kUsage);
  apply_gan_loss_defaults(t);
  if (lr) t.g_lr = t.d_lr = *lr;
  if (g_lr) t.g_lr = *g_lr;
  if (d_lr) t.d_lr = *d_lr;
  if (beta1) t.beta1 = *beta1;
  if (beta2) t.beta2 = *beta2;
  if (n_critic) t.n_critic = *n_critic;
  require_flag(!gp_weight || t.loss == "wgan-gp", "--gp-weight is only used with --loss wgan-gp");
  if (gp_weight) t.gp_weight = *gp_weight;
  // The generator's output size follows its stages: base 4 doubled per stage must be 64.
  t.generator.image_size = t.generator.base_size << t.generator.stage_filters.size();
  require_flag(t.generator.image_size == datasets::kEuroSatSize, "--g-widths: ",
               t.generator.stage_filters.size(), " stages make ", t.generator.image_size, "x",
               t.generator.image_size, " images from the 4x4 base; EuroSAT needs ",
               datasets::kEuroSatSize, " (4 stages)");
  t.balanced = f.variant == "balanced";
  if (f.out.empty())
    f.out = "runs/gan-" + f.variant + "-" + t.loss + "-seed" + std::to_string(t.seed);
  return f;
}

// Everything that changes what is trained: a resumed run must match it. Epochs, sampling
// cadence, the threshold, the device and paths may change on resume.
nlohmann::json training_config(const Flags& f) {
  const GanTrainOptions& t = f.train;
  return {{"variant", f.variant},       {"subset_seed", f.subset_seed},
          {"fraction", f.fraction},     {"loss", t.loss},
          {"batch", t.batch_size},      {"g_lr", t.g_lr},
          {"d_lr", t.d_lr},             {"beta1", t.beta1},
          {"beta2", t.beta2},           {"n_critic", t.n_critic},
          {"gp_weight", t.gp_weight},   {"ema", t.ema_decay},
          {"seed", t.seed},             {"sample_cols", t.sample_cols},
          {"generator", models::to_json(t.generator)},
          {"critic", models::to_json(t.critic)}};
}

int run(Flags f) {
  const fs::path out = f.out;
  const bool has_state =
      fs::exists(out / "checkpoint.json") || fs::exists(out / "generator.safetensors");
  EMBER_CHECK(f.train.resume || !has_state, "the run folder ", out.string(),
              " already holds a run: pass --resume to continue it, or choose another --out");
  fs::create_directories(out);
  RunLog log(out / "train.log");
  log.line(format("== train_gan: variant %s, loss %s, seed %llu, device %s -> %s",
                  f.variant.c_str(), f.train.loss.c_str(),
                  static_cast<unsigned long long>(f.train.seed), f.train.device.str().c_str(),
                  out.c_str()));

  const fs::path root = datasets::resolve_data_root(f.data);
  datasets::LoadOptions load{.threads = static_cast<int>(f.threads), .use_cache = !f.no_cache,
                             .cache_dir = f.cache_dir};
  datasets::EuroSat data = datasets::load_eurosat(root, load);
  log.line(format("data: %s (%lld training images)%s", root.c_str(),
                  static_cast<long long>(data.train.size()),
                  data.fallback_split ? ", seeded 60/20/20 split (no split lists)" : ""));
  datasets::ImageSet train = data.train;
  if (f.fraction < 1.0) {
    train = datasets::stratified_fraction(train, f.fraction, f.subset_seed);
    log.line(format("--fraction %g: %lld training images", f.fraction,
                    static_cast<long long>(train.size())));
  }
  if (f.variant != "full") train = datasets::make_unbalanced(train, f.subset_seed);
  {
    std::string counts;
    const std::vector<int64_t> n = datasets::class_counts(train);
    for (size_t c = 0; c < n.size(); ++c)
      counts += format("%s%s %lld", c ? ", " : "", train.class_names[c].c_str(),
                       static_cast<long long>(n[c]));
    log.line("training set (" + f.variant + "): " + counts);
  }

  const nlohmann::json config = training_config(f);
  GanTrainOptions options = f.train;
  options.out_dir = out;
  options.config_key = config.dump();
  options.generator.num_classes = options.critic.num_classes =
      static_cast<int64_t>(train.class_names.size());
  options.generator_metadata = {{"variant", f.variant},
                                {"seed", std::to_string(f.train.seed)},
                                {"class_names", nlohmann::json(train.class_names).dump()}};
  write_file_atomically((out / "config.json").string(),
                        nlohmann::json{{"training", config},
                                       {"epochs", f.train.epochs},
                                       {"sample_every", f.train.sample_every},
                                       {"explode_threshold", f.train.explode_threshold},
                                       {"device", f.train.device.str()},
                                       {"data", root.string()}}
                                .dump(2) + "\n");

  const GanTrainResult result = train_gan(train, options, log);
  double seconds = 0;
  for (const GanEpochRecord& r : result.history) seconds += r.seconds;
  if (!result.history.empty())
    log.line(format("done: %zu epochs, %s in all, %s/epoch", result.history.size(),
                    format_duration(seconds).c_str(),
                    format_duration(seconds / result.history.size()).c_str()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_cli_main("train_gan", "(train_gan --help lists the flags)",
                      [&] { return run(parse_flags(argc, argv)); });
}
