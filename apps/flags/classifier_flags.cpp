// train_classifier's flags (apps/flags/classifier_flags.h).
#include "apps/flags/classifier_flags.h"

#include <filesystem>

#include "apps/flags/cli.h"
#include "apps/flags/shared_flags.h"

namespace ember::training {

const char* const kClassifierUsage = R"(usage: train_classifier [flags]
data:
  --data DIR               EuroSAT root (default: $EMBER_DATA, <repo>/data, ../shared/data)
  --variant V              full | unbalanced | weighted | generated (default unbalanced)
  --generated DIR          generated images in class folders (variant generated)
  --generated-per-class N  use only the first N generated images of each class (default all)
  --subset-seed S          which Highway/River images the unbalanced set keeps (default 0)
  --fraction F             use this stratified fraction of train/val/test (quick runs; default 1)
  --cache-dir DIR | --no-cache   the decoded-image cache (datasets/image_cache.h)
  --threads N              decoding threads (default: all cores)
model:
  --weights FILE           pretrained backbone in ember's layout (models/convert/convert_*.py); the
                           classifier head is always new. Without it: trained from scratch
                           (padding and BN epsilon follow the file's metadata; convert
                           torchvision weights with --imagenet-normalization, since the
                           model takes 0..255 images and normalises them itself)
  --freeze N|backbone      freeze the first N layers with weights (Keras order: stem_conv,
                           stem_bn, block1a_dwconv, ...) or the whole backbone; frozen batch
                           norms run in inference mode, as in Keras (default 0)
  --bn-momentum X          BatchNorm running-statistics momentum, Keras convention (0.99);
                           0.9 settles the statistics within tens of steps (very short runs)
training:
  --seed S                 model initialisation, dropout, shuffling (default 0)
  --epochs N (10)  --batch N (32)  --eval-batch N (128)
  --optimizer adam|adamw|sgd (adam)  --lr X (1e-3)  --weight-decay X (0)
  --momentum X (0.9, sgd)  --nesterov
  --schedule constant|cosine|step|plateau (constant)  --warmup N (0)  --min-lr X (0)
  --step-size N (10)  --gamma X (0.1)  --plateau-patience N (2)  --plateau-factor X (0.2)
  --patience N             early stopping after N epochs without a better val accuracy (0: off)
  --clip-norm X (0: off)  --label-smoothing X (0)  --ema DECAY (0: off)
  --augment                flips and 90-degree rotations
  --balanced               class-balanced sampling (oversamples the small classes)
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
  --out DIR                run folder (default runs/classifier-<variant>-seed<S>)
  --resume                 continue the run in --out from its last finished epoch
  --progress-every N       a progress line every N batches (default 50; 0: none)
  --summary                print the Keras-style model summary (layers, shapes, parameters)
Exit status: 0 done, 1 an error, 2 a bad flag, 77 no EuroSAT data found and no place named.
)";

namespace {

bool read_model_flag(FlagReader& r, ClassifierFlags& f) {
  if (r.is("--weights")) f.weights = r.value();
  else if (r.is("--freeze")) f.freeze = r.value();
  else if (r.is("--bn-momentum")) f.bn_momentum = r.double_value(0.0, 0.999999);
  else return false;
  return true;
}

// The optimizer and its learning-rate schedule.
bool read_optimizer_flag(FlagReader& r, ClassifierTrainOptions& t) {
  if (r.is("--optimizer")) t.optimizer = r.choice_value({"adam", "adamw", "sgd"});
  else if (r.is("--lr")) t.lr = r.double_value(1e-12, 10.0);
  else if (r.is("--weight-decay")) t.weight_decay = r.double_value(0.0, 1.0);
  else if (r.is("--momentum")) t.momentum = r.double_value(0.0, 0.999999);
  else if (r.is_switch("--nesterov")) t.nesterov = true;
  else if (r.is("--schedule")) t.schedule = r.choice_value({"constant", "cosine", "step", "plateau"});
  else if (r.is("--warmup")) t.warmup_epochs = r.int_value(0, 100000);
  else if (r.is("--min-lr")) t.min_lr = r.double_value(0.0, 10.0);
  else if (r.is("--step-size")) t.step_size = r.int_value(1, 100000);
  else if (r.is("--gamma")) t.gamma = r.double_value(1e-9, 1.0);
  else if (r.is("--plateau-patience")) t.plateau_patience = r.int_value(0, 100000);
  else if (r.is("--plateau-factor")) t.plateau_factor = r.double_value(1e-9, 0.999999);
  else return false;
  return true;
}

bool read_training_flag(FlagReader& r, ClassifierTrainOptions& t) {
  if (r.is("--seed")) t.seed = static_cast<uint64_t>(r.int_value(0));
  else if (r.is("--epochs")) t.epochs = r.int_value(1, 100000);
  else if (r.is("--batch")) t.batch_size = r.int_value(2, 1 << 16);
  else if (r.is("--eval-batch")) t.eval_batch_size = r.int_value(1, 1 << 16);
  else if (r.is("--patience")) t.early_stopping_patience = r.int_value(0, 100000);
  else if (r.is("--clip-norm")) t.clip_norm = r.double_value(0.0);
  else if (r.is("--label-smoothing")) t.label_smoothing = r.double_value(0.0, 0.999);
  else if (r.is("--ema")) t.ema_decay = r.double_value(0.0, 0.999999999);
  else if (r.is_switch("--augment")) t.augment = true;
  else if (r.is_switch("--balanced")) t.balanced = true;
  else if (r.is("--device")) t.device = r.device_value();
  else return false;
  return true;
}

// The rules that tie flags together, checked once every flag is read.
void check_flag_combinations(ClassifierFlags& f) {
  const ClassifierTrainOptions& t = f.train;
  // Whether the count fits the model (its layers with weights) is checked when it is built.
  f.freeze_layers = f.freeze == "backbone"
                        ? -1
                        : parse_int("--freeze (a layer count or 'backbone')", f.freeze);
  require_flag(f.freeze_layers >= 0 || f.freeze == "backbone",
               "--freeze must be a layer count >= 0 or 'backbone', got '", f.freeze, "'");
  require_flag((f.variant == "generated") == !f.generated.empty(),
               f.variant == "generated" ? "--variant generated needs --generated DIR"
                                        : "--generated is only used with --variant generated");
  require_flag(f.generated_per_class < 0 || f.variant == "generated",
               "--generated-per-class is only used with --variant generated");
  require_flag(!(f.variant == "weighted" && t.balanced),
               "--balanced with --variant weighted would correct the imbalance twice");
  require_flag(t.schedule != "cosine" || t.warmup_epochs < t.epochs,
               "--warmup (", t.warmup_epochs, ") must be shorter than --epochs (", t.epochs, ")");
}

}  // namespace

ClassifierFlags parse_classifier_flags(const std::vector<std::string>& args) {
  ClassifierFlags f;
  ClassifierTrainOptions& t = f.train;
  t.early_stopping_patience = 0;
  FlagReader r(args);
  while (r.next()) {
    if (r.is("--variant")) f.variant = r.choice_value({"full", "unbalanced", "weighted", "generated"});
    else if (r.is("--generated")) f.generated = r.value();
    else if (r.is("--generated-per-class")) f.generated_per_class = r.int_value(0);
    else if (r.is_switch("--summary")) f.summary = true;
    else if (!read_data_flag(r, f) && !read_model_flag(r, f) && !read_optimizer_flag(r, t) &&
             !read_training_flag(r, t) && !read_math_flag(r, f) && !read_graph_flag(r, f) &&
             !read_run_flag(r, f))
      r.unknown();
  }
  f.help = r.help_requested();
  if (f.help) return f;
  check_flag_combinations(f);
  if (f.out.empty()) f.out = "runs/classifier-" + f.variant + "-seed" + std::to_string(t.seed);
  return f;
}

void check_classifier_inputs(const ClassifierFlags& f) {
  require_flag(f.weights.empty() || std::filesystem::is_regular_file(f.weights),
               "--weights: no such file '", f.weights, "'");
}

}  // namespace ember::training
