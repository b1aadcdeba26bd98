// train_gan's flags (apps/flags/gan_flags.h).
#include "apps/flags/gan_flags.h"

#include <algorithm>
#include <optional>

#include "datasets/eurosat.h"
#include "apps/flags/cli.h"
#include "apps/flags/shared_flags.h"

namespace ember::training {

const char* const kGanUsage = R"(usage: train_gan [flags]
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
networks (gan/networks.h; defaults as docs/gan.md):
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
  --exact-fp32             exact fp32 math on CUDA (default there: TF32 tensor cores in
                           convolutions and matrix products, faster, inputs rounded to
                           10 mantissa bits; EMBER_ALLOW_TF32=0 does the same)
  --precision fp32|tf32|bf16  fp32: as --exact-fp32; tf32: the CUDA default; bf16:
                           convolutions and matrix products from bf16 operands with
                           float32 sums, float32 weights and batch norm, on either device
                           (docs/mixed_precision.md)
  --cuda-graphs on|off     on CUDA: capture each training step once per batch shape in a
                           CUDA graph and replay it (on, the default: one launch per step,
                           the same numbers) or run every step eagerly (off)
run:
  --out DIR                run folder (default runs/gan-<variant>-<loss>-seed<S>)
  --resume                 continue the run in --out from its last finished epoch
  --progress-every N       a progress line every N critic steps (default 20; 0: none)
Exit status: 0 done, 1 an error, 2 a bad flag, 77 no EuroSAT data found and no place named.
)";

namespace {

std::vector<int64_t> parse_widths(const std::string& flag, const std::string& text) {
  std::vector<int64_t> out;
  for (const std::string& item : split_list(flag, text)) {
    const int64_t v = parse_int(flag, item);
    require_flag(v > 0 && v <= 65536, flag, ": widths must be in [1, 65536], got ", v);
    out.push_back(v);
  }
  return out;
}

// The loss and optimizer flags as given; their defaults depend on --loss, which may come
// after them, so they are applied once every flag is read (apply_loss_flags).
struct LossFlags {
  std::optional<double> lr, g_lr, d_lr, beta1, beta2, gp_weight;
  std::optional<int64_t> n_critic;
};

bool read_loss_flag(FlagReader& r, GanTrainOptions& t, LossFlags& l) {
  if (r.is("--loss")) t.loss = r.choice_value({"wgan-gp", "bce"});
  else if (r.is("--lr")) l.lr = r.double_value(1e-12, 10.0);
  else if (r.is("--g-lr")) l.g_lr = r.double_value(1e-12, 10.0);
  else if (r.is("--d-lr")) l.d_lr = r.double_value(1e-12, 10.0);
  else if (r.is("--beta1")) l.beta1 = r.double_value(0.0, 0.999999);
  else if (r.is("--beta2")) l.beta2 = r.double_value(0.0, 0.999999999);
  else if (r.is("--n-critic")) l.n_critic = r.int_value(1, 1000);
  else if (r.is("--gp-weight")) l.gp_weight = r.double_value(0.0, 1e6);
  else if (r.is("--explode-threshold")) t.explode_threshold = r.double_value(1e-12);
  else return false;
  return true;
}

bool read_network_flag(FlagReader& r, GanTrainOptions& t) {
  if (r.is("--latent-dim")) t.generator.latent_dim = r.int_value(1, 65536);
  else if (r.is("--embedding-dim")) t.generator.embedding_dim = r.int_value(1, 65536);
  else if (r.is("--g-widths")) t.generator.stage_filters = parse_widths("--g-widths", r.value());
  else if (r.is("--g-base-channels")) t.generator.base_channels = r.int_value(1, 65536);
  else if (r.is("--d-widths")) t.critic.filters = parse_widths("--d-widths", r.value());
  else if (r.is_switch("--layer-norm")) t.critic.layer_norm = true;
  else if (r.is("--init")) {
    const models::GanInit init = models::parse_gan_init(r.choice_value({"keras", "dcgan"}));
    t.generator.init = t.critic.init = init;
  }
  else return false;
  return true;
}

bool read_training_flag(FlagReader& r, GanTrainOptions& t) {
  if (r.is("--epochs")) t.epochs = r.int_value(1, 1000000);
  else if (r.is("--batch")) t.batch_size = r.int_value(2, 1 << 16);
  else if (r.is("--seed")) t.seed = static_cast<uint64_t>(r.int_value(0));
  else if (r.is("--ema")) t.ema_decay = r.double_value(0.0, 0.999999999);
  else if (r.is("--sample-every")) t.sample_every = r.int_value(1, 1000000);
  else if (r.is("--sample-cols")) t.sample_cols = r.int_value(1, 64);
  else if (r.is("--device")) t.device = r.device_value();
  else return false;
  return true;
}

// The loss's defaults, then what was given over them.
void apply_loss_flags(GanTrainOptions& t, const LossFlags& l) {
  apply_gan_loss_defaults(t);
  if (l.lr) t.g_lr = t.d_lr = *l.lr;
  if (l.g_lr) t.g_lr = *l.g_lr;
  if (l.d_lr) t.d_lr = *l.d_lr;
  if (l.beta1) t.beta1 = *l.beta1;
  if (l.beta2) t.beta2 = *l.beta2;
  if (l.n_critic) t.n_critic = *l.n_critic;
  require_flag(!l.gp_weight || t.loss == "wgan-gp", "--gp-weight is only used with --loss wgan-gp");
  if (l.gp_weight) t.gp_weight = *l.gp_weight;
}

// The generator's output size follows its stages: base 4 doubled per stage must be 64
// (the shift is capped so that a long list cannot overflow it).
void set_image_size(GanTrainOptions& t) {
  t.generator.image_size =
      t.generator.base_size << std::min<size_t>(t.generator.stage_filters.size(), 20);
  require_flag(t.generator.image_size == datasets::kEuroSatSize, "--g-widths: ",
               t.generator.stage_filters.size(), " stages make ", t.generator.image_size, "x",
               t.generator.image_size, " images from the 4x4 base; EuroSAT needs ",
               datasets::kEuroSatSize, " (4 stages)");
}

}  // namespace

GanFlags parse_gan_flags(const std::vector<std::string>& args) {
  GanFlags f;
  GanTrainOptions& t = f.train;
  t.epochs = 20;
  LossFlags loss;
  FlagReader r(args);
  while (r.next()) {
    if (r.is("--variant")) f.variant = r.choice_value({"full", "unbalanced", "balanced"});
    else if (!read_data_flag(r, f) && !read_loss_flag(r, t, loss) && !read_network_flag(r, t) &&
             !read_training_flag(r, t) && !read_math_flag(r, f) && !read_graph_flag(r, f) &&
             !read_run_flag(r, f))
      r.unknown();
  }
  f.help = r.help_requested();
  if (f.help) return f;
  apply_loss_flags(t, loss);
  set_image_size(t);
  t.balanced = f.variant == "balanced";
  if (f.out.empty())
    f.out = "runs/gan-" + f.variant + "-" + t.loss + "-seed" + std::to_string(t.seed);
  return f;
}

}  // namespace ember::training
