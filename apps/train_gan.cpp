// train_gan: trains the conditional GAN (gan/networks.h: a label-conditioned
// generator against a projection critic) on one of the experiment's EuroSAT training sets,
// with WGAN-GP (default) or the classic non-saturating BCE loss (gan/trainer.h).
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
// An existing run folder is never overwritten: --resume continues it. One process at a
// time per folder (a lock on <out>.lock); files a killed run was writing are removed on the
// next start; an error after train.log is open is written to it too.
// Exit status: 0 done, 1 a data or training error (divergence included), 2 a bad flag (the
// flags and their rules: apps/flags/gan_flags.h), 77 no EuroSAT data found (apps/data_root.h).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/derived.h"
#include "datasets/eurosat.h"
#include "gan/networks.h"
#include "gan/networks_io.h"
#include "tensor/atomic_file.h"
#include "apps/data_root.h"
#include "apps/math_mode.h"
#include "ops/autocast.h"
#include "apps/flags/cli.h"
#include "apps/flags/gan_flags.h"
#include "gan/trainer.h"
#include "apps/run_folder.h"
#include "training/run_log.h"

using namespace ember;
using namespace ember::training;
namespace fs = std::filesystem;

namespace {

// Everything that changes what is trained: a resumed run must match it. Epochs, sampling
// cadence, the threshold, the device and paths may change on resume.
nlohmann::json training_config(const GanFlags& f) {
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

// The variant's training set (from the training split, cut to --fraction first), logged.
datasets::ImageSet load_training_set(const GanFlags& f, const fs::path& root, RunLog& log) {
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
  std::string counts;
  const std::vector<int64_t> n = datasets::class_counts(train);
  for (size_t c = 0; c < n.size(); ++c)
    counts += format("%s%s %lld", c ? ", " : "", train.class_names[c].c_str(),
                     static_cast<long long>(n[c]));
  log.line("training set (" + f.variant + "): " + counts);
  return train;
}

// The trainer's options: the flags' plus the folder, the configuration key, the class count
// and the metadata generator.safetensors carries.
GanTrainOptions trainer_options(const GanFlags& f, const fs::path& out,
                                const datasets::ImageSet& train) {
  GanTrainOptions options = f.train;
  options.out_dir = out;
  options.config_key = training_config(f).dump();
  options.generator.num_classes = options.critic.num_classes =
      static_cast<int64_t>(train.class_names.size());
  options.generator_metadata = {{"variant", f.variant},
                                {"seed", std::to_string(f.train.seed)},
                                {"class_names", nlohmann::json(train.class_names).dump()}};
  return options;
}

// The run, once run() below has claimed the folder and opened the log: the data, config.json,
// training (gan/trainer.h), a closing line.
int train(const GanFlags& f, const fs::path& out, RunLog& log) {
  log.line(format("== train_gan: variant %s, loss %s, seed %llu, device %s -> %s",
                  f.variant.c_str(), f.train.loss.c_str(),
                  static_cast<unsigned long long>(f.train.seed), f.train.device.str().c_str(),
                  out.c_str()));
  const std::string math = apps::use_math_mode(f.train.device, f.exact_fp32, f.precision);
  log.line(apps::math_mode_note(math));
  // This thread's convolutions and matrix products, training and evaluation alike.
  const PrecisionScope precision_scope(apps::precision_of(math));
  const fs::path root = apps::find_data_root(f.data);
  const datasets::ImageSet train = load_training_set(f, root, log);
  const GanTrainOptions options = trainer_options(f, out, train);
  write_file_atomically((out / "config.json").string(),
                        nlohmann::json{{"training", training_config(f)},
                                       {"epochs", f.train.epochs},
                                       {"sample_every", f.train.sample_every},
                                       {"explode_threshold", f.train.explode_threshold},
                                       {"device", f.train.device.str()},
                                       {"math", math},
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

// Trains in --out (apps/run_folder.h: the lock, the --resume rule, train.log).
int run(const GanFlags& f) {
  const fs::path out = f.out;
  return apps::run_in_folder(out, f.train.resume, {"checkpoint.json", "generator.safetensors"},
                             [&](RunLog& log) { return train(f, out, log); });
}

}  // namespace

int main(int argc, char** argv) {
  return run_cli_main("train_gan", "(train_gan --help lists the flags)", [&] {
    const GanFlags f = parse_gan_flags(cli_args(argc, argv));
    if (f.help) return print_usage(kGanUsage);
    require_visible_device("--device", f.train.device);
    return apps::exit_when_data_missing("train_gan", [&] { return run(f); });
  });
}
