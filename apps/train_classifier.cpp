// train_classifier: fine-tunes (or trains from scratch) an EfficientNetB2 classifier on one of
// the experiment's EuroSAT training sets, keeps the best epoch by validation accuracy, then
// evaluates it on the test split and writes the result as JSON.
//
//   ./build/apps/train_classifier --variant unbalanced --seed 1 --epochs 10 --out runs/unb-1
//
// Variants of the training set (validation and test are always the standard splits):
//   full         the standard training split
//   unbalanced   Highway and River cut to 15% (datasets/derived.h; --subset-seed picks which)
//   weighted     the unbalanced set with 'balanced' class weights in the loss
//   generated    the unbalanced set plus the images under --generated DIR (class folders),
//                optionally only the first --generated-per-class N of each class
// Files in --out: train.log (every line printed, appended on resume), config.json, history.csv,
// last.safetensors (resumable state), best.safetensors (best model), result.json (test
// accuracy, per-class accuracy, confusion matrix, history...), test_predictions.csv.
// An existing run folder is never overwritten: --resume continues it. One process at a
// time per folder (a lock on <out>.lock); files a killed run was writing are removed on the
// next start; an error after train.log is open is written to it too.
// Exit status: 0 done, 1 a data or training error, 2 a bad flag, 77 no EuroSAT data found
// (apps/data_root.h). --help lists every flag; the flags and their rules are in
// apps/flags/classifier_flags.h.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/derived.h"
#include "datasets/eurosat.h"
#include "datasets/generated.h"
#include "models/efficientnet.h"
#include "models/pretrained.h"
#include "nn/safetensors.h"
#include "tensor/atomic_file.h"
#include "apps/data_root.h"
#include "apps/math_mode.h"
#include "ops/autocast.h"
#include "apps/flags/classifier_flags.h"
#include "training/classifier_trainer.h"
#include "apps/flags/cli.h"
#include "training/evaluate.h"
#include "apps/run_folder.h"
#include "training/run_log.h"

using namespace ember;
using namespace ember::training;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kMinority = {"Highway", "River"};

// Everything that changes what is trained: a resumed run must match it. Epochs and patience
// may change on resume (train longer); paths and progress output do not matter.
nlohmann::json training_config(const ClassifierFlags& f) {
  const ClassifierTrainOptions& t = f.train;
  return {{"variant", f.variant}, {"generated", f.generated},
          {"generated_per_class", f.generated_per_class}, {"subset_seed", f.subset_seed},
          {"fraction", f.fraction}, {"weights", f.weights},
          {"freeze", f.freeze}, {"bn_momentum", f.bn_momentum}, {"seed", t.seed}, {"batch", t.batch_size},
          {"optimizer", t.optimizer}, {"lr", t.lr}, {"weight_decay", t.weight_decay},
          {"momentum", t.momentum}, {"nesterov", t.nesterov}, {"schedule", t.schedule},
          {"warmup", t.warmup_epochs}, {"min_lr", t.min_lr}, {"step_size", t.step_size},
          {"gamma", t.gamma}, {"plateau_patience", t.plateau_patience},
          {"plateau_factor", t.plateau_factor}, {"clip_norm", t.clip_norm},
          {"label_smoothing", t.label_smoothing}, {"ema", t.ema_decay}, {"augment", t.augment},
          {"balanced", t.balanced}};
}

nlohmann::json counts_json(const datasets::ImageSet& set) {
  nlohmann::json out = nlohmann::json::object();
  const std::vector<int64_t> counts = datasets::class_counts(set);
  for (size_t c = 0; c < counts.size(); ++c) out[set.class_names[c]] = counts[c];
  return out;
}

// The training set of the variant (validation and test are never changed).
datasets::ImageSet training_set(const ClassifierFlags& f, const datasets::ImageSet& train, RunLog& log) {
  if (f.variant == "full") return train;
  datasets::ImageSet unbalanced = datasets::make_unbalanced(train, f.subset_seed);
  if (f.variant != "generated") return unbalanced;
  // A set from `build_augmented --allow-short` whose generation kept nothing has a manifest and
  // no class folders: it is the unbalanced set alone, said in the log (and so in result.json's
  // train_images), not an error.
  EMBER_CHECK(fs::is_directory(f.generated), "generated images: ", f.generated, " is not a folder");
  const fs::path manifest = fs::path(f.generated) / "manifest.csv";
  bool any_class_folder = false;
  for (const auto& e : fs::directory_iterator(f.generated)) any_class_folder |= e.is_directory();
  if (!any_class_folder && fs::exists(manifest)) {
    log.line("generated images from " + f.generated +
             ": 0 (the generation kept none): training on the unbalanced set alone");
    return unbalanced;
  }
  datasets::ImageSet generated = datasets::load_generated(f.generated, train.class_names);
  if (f.generated_per_class >= 0)
    generated = datasets::first_per_class(generated, f.generated_per_class);
  log.line(format("generated images from %s: %lld", f.generated.c_str(),
                  static_cast<long long>(generated.size())));
  return datasets::concat_sets(unbalanced, generated);
}

// The layers with weights in Keras order: the first path component of each parameter name
// ("stem_conv", "stem_bn", "block1a_dwconv", ..., "predictions").
std::vector<std::string> layers_with_weights(const nn::Module& model) {
  std::vector<std::string> layers;
  for (const auto& [name, _] : model.named_parameters()) {
    const std::string layer = name.substr(0, name.find('.'));
    if (layers.empty() || layers.back() != layer) layers.push_back(layer);
  }
  return layers;
}

// The model options a converted weights file was made for (models/convert/convert_*.py record the padding
// and BatchNorm epsilon in its metadata); Keras's defaults when it records none.
models::EfficientNetOptions options_for_weights(const std::string& path, RunLog& log) {
  models::EfficientNetOptions options;
  if (path.empty()) return options;
  const nn::SafetensorsFile file = nn::read_safetensors(path);
  const auto& meta = file.metadata;
  if (auto it = meta.find("ember.padding"); it != meta.end() && it->second == "symmetric")
    options.padding = models::EfficientNetPadding::Symmetric;
  if (auto it = meta.find("ember.bn_eps"); it != meta.end())
    options.bn_eps = parse_double("ember.bn_eps of " + path, it->second);
  log.line(format("--weights %s: %s padding, BatchNorm epsilon %g", path.c_str(),
                  options.padding == models::EfficientNetPadding::Symmetric ? "symmetric"
                                                                            : "TensorFlow 'same'",
                  options.bn_eps));
  return options;
}

// The three splits, cut to --fraction (each split with its own seed) when asked.
datasets::EuroSat load_data(const ClassifierFlags& f, RunLog& log) {
  const fs::path root = apps::find_data_root(f.data);
  datasets::LoadOptions load{.threads = static_cast<int>(f.threads), .use_cache = !f.no_cache,
                             .cache_dir = f.cache_dir};
  datasets::EuroSat data = datasets::load_eurosat(root, load);
  log.line(format("data: %s (%lld train, %lld val, %lld test)%s", root.c_str(),
                  static_cast<long long>(data.train.size()), static_cast<long long>(data.val.size()),
                  static_cast<long long>(data.test.size()),
                  data.fallback_split ? ", seeded 60/20/20 split (no split lists)" : ""));
  if (f.fraction < 1.0) {
    data.train = datasets::stratified_fraction(data.train, f.fraction, f.subset_seed);
    data.val = datasets::stratified_fraction(data.val, f.fraction, f.subset_seed + 1);
    data.test = datasets::stratified_fraction(data.test, f.fraction, f.subset_seed + 2);
    log.line(format("--fraction %g: %lld train, %lld val, %lld test", f.fraction,
                    static_cast<long long>(data.train.size()),
                    static_cast<long long>(data.val.size()),
                    static_cast<long long>(data.test.size())));
  }
  return data;
}

// The trainer's options: the flags' plus the folder, the configuration key, and for the
// weighted variant the 'balanced' class weights (logged).
ClassifierTrainOptions trainer_options(const ClassifierFlags& f, const fs::path& out,
                                       const datasets::ImageSet& train, RunLog& log) {
  ClassifierTrainOptions options = f.train;
  options.out_dir = out;
  options.config_key = training_config(f).dump();
  if (f.variant == "weighted") {
    options.class_weights = datasets::balanced_class_weights(train);
    std::string text;
    for (size_t c = 0; c < options.class_weights.size(); ++c)
      text += format("%s%s %.3f", c ? ", " : "", train.class_names[c].c_str(),
                     options.class_weights[c]);
    log.line("class weights: " + text);
  }
  return options;
}

// The model with what --freeze leaves trainable, and the frozen batch norms that stay in
// inference mode while training.
struct ClassifierModel {
  std::shared_ptr<models::EfficientNet> net;
  std::vector<Tensor> trainable;
  std::vector<nn::Module*> keep_in_eval;
};

// Freezes the first --freeze layers with weights (all but the head for 'backbone').
void freeze_layers(const ClassifierFlags& f, ClassifierModel& m, RunLog& log) {
  const std::vector<std::string> layers = layers_with_weights(*m.net);
  const size_t frozen = f.freeze_layers < 0 ? layers.size() - 1 : static_cast<size_t>(f.freeze_layers);
  require_flag(frozen < layers.size(), "--freeze ", f.freeze, ": the model has only ",
               layers.size(), " layers with weights, and the classifier must stay trainable");
  std::set<std::string> frozen_layers(layers.begin(), layers.begin() + frozen);
  int64_t trainable_count = 0;
  for (auto [name, p] : m.net->named_parameters()) {
    if (frozen_layers.count(name.substr(0, name.find('.')))) {
      p.set_requires_grad(false);  // a handle: the model's parameter itself
    } else {
      m.trainable.push_back(p);
      trainable_count += p.numel();
    }
  }
  for (const auto& [name, child] : m.net->named_children())
    if (frozen_layers.count(name) && name.find("bn") != std::string::npos)
      m.keep_in_eval.push_back(child.get());
  log.line(format("model: EfficientNetB2, %lld trainable parameters, %zu of %zu layers frozen",
                  static_cast<long long>(trainable_count), frozen, layers.size()));
}

// EfficientNetB2 drawn from the seed's generator `gen` (which then draws the dropout masks),
// with --weights loaded and --freeze applied, on the device.
ClassifierModel build_model(const ClassifierFlags& f, int64_t classes, RandomGenerator& gen,
                            RunLog& log) {
  models::EfficientNetOptions model_options = options_for_weights(f.weights, log);
  model_options.bn_momentum = f.bn_momentum;
  ClassifierModel m;
  m.net = models::efficientnet_b2(gen, classes, model_options);
  if (f.summary) log.line(m.net->summary(datasets::kEuroSatSize, datasets::kEuroSatSize));
  if (!f.weights.empty())
    log.line("--weights: " + models::load_pretrained_backbone(*m.net, f.weights).describe());
  freeze_layers(f, m, log);
  m.net->to(f.train.device);
  return m;
}

void write_config(const ClassifierFlags& f, const fs::path& out, const fs::path& root,
                  const std::string& math) {
  write_file_atomically((out / "config.json").string(),
                        nlohmann::json{{"training", training_config(f)},
                                       {"epochs", f.train.epochs},
                                       {"patience", f.train.early_stopping_patience},
                                       {"device", f.train.device.str()},
                                       {"math", math},
                                       {"data", root.string()},
                                       {"eval_batch", f.train.eval_batch_size}}
                                .dump(2) + "\n");
}

// test_predictions.csv: each test image's label, prediction and confidence.
void write_predictions(const fs::path& out, const datasets::ImageSet& test, const EvalResult& r) {
  std::string predictions = "file,label,predicted,confidence\n";
  for (int64_t i = 0; i < test.size(); ++i) {
    predictions += format("%s,%lld,%lld,%.6f\n", test.files[i].c_str(),
                          static_cast<long long>(test.labels.data<int64_t>()[i]),
                          static_cast<long long>(r.predictions[i]), r.confidence[i]);
  }
  write_file_atomically((out / "test_predictions.csv").string(), predictions);
}

// The best epoch's model on the test split: logged, and written as test_predictions.csv.
EvalResult test_best_model(const ClassifierFlags& f, const fs::path& out,
                           models::EfficientNet& model, const datasets::ImageSet& test,
                           const ClassifierTrainResult& trained, RunLog& log) {
  nn::load_module(model, trained.best_path.string());
  const EvalResult r = evaluate_classifier(
      model, test, {.batch_size = f.train.eval_batch_size, .device = f.train.device});
  const ConfusionMatrix& cm = r.confusion;
  log.line(format("test (best epoch %lld): accuracy %.4f, minority (Highway+River) %.4f, loss %.4f",
                  static_cast<long long>(trained.best_epoch), cm.accuracy(),
                  cm.group_accuracy(kMinority), r.loss));
  log.line("confusion matrix (rows: true class, columns: predicted)\n" + cm.to_text());
  write_predictions(out, test, r);
  return r;
}

// result.json: the run's settings, training summary, history and test result.
nlohmann::json result_json(const ClassifierFlags& f, const datasets::ImageSet& train,
                           const ClassifierTrainResult& trained, const EvalResult& test,
                           const std::string& pretrained_note, const std::string& math) {
  double seconds = 0, rate = 0;
  for (const EpochRecord& r : trained.history) {
    seconds += r.seconds;
    rate += r.train_images_per_second;
  }
  nlohmann::json test_json = test.confusion.to_json();
  test_json["loss"] = test.loss;
  test_json["minority_classes"] = kMinority;
  test_json["minority_accuracy"] = test.confusion.group_accuracy(kMinority);
  const size_t epochs_run = trained.history.size();
  return {{"format", "ember.train_classifier.v1"},
          {"variant", f.variant},
          {"seed", f.train.seed},
          {"device", f.train.device.str()},
          {"math", math},
          {"pretrained", !f.weights.empty()},
          {"weights", f.weights.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.weights)},
          {"note", pretrained_note},
          {"train_counts", counts_json(train)},
          {"train_images", train.size()},
          {"epochs_run", epochs_run},
          {"best_epoch", trained.best_epoch},
          {"stopped_early", trained.stopped_early},
          {"seconds", seconds},
          {"seconds_per_epoch", epochs_run ? seconds / epochs_run : 0.0},
          {"train_images_per_second", epochs_run ? rate / epochs_run : 0.0},
          {"val", {{"accuracy", trained.best_val_accuracy}, {"loss", trained.best_val_loss}}},
          {"test", test_json},
          {"history", history_json(trained.history)},
          {"config", training_config(f)}};
}

// The run, once run() below has claimed the folder and opened the log: data, model,
// training (training/classifier_trainer.h), the test of the best epoch, result.json.
int train(const ClassifierFlags& f, const fs::path& out, RunLog& log) {
  log.line(format("== train_classifier: variant %s, seed %llu, device %s -> %s", f.variant.c_str(),
                  static_cast<unsigned long long>(f.train.seed), f.train.device.str().c_str(),
                  out.c_str()));
  const std::string pretrained_note =
      f.weights.empty() ? "trained from scratch: no pretrained weights given (--weights)"
                        : "fine-tuned from " + f.weights;
  log.line(pretrained_note);
  const std::string math = apps::use_math_mode(f.train.device, f.exact_fp32, f.precision);
  log.line(apps::math_mode_note(math));
  // This thread's convolutions and matrix products, training and evaluation alike.
  const PrecisionScope precision_scope(apps::precision_of(math));

  const datasets::EuroSat data = load_data(f, log);
  const datasets::ImageSet train = training_set(f, data.train, log);
  datasets::write_file_list(out / "train_files.txt", train);
  log.line("training set: " + counts_json(train).dump());
  const ClassifierTrainOptions options = trainer_options(f, out, train, log);

  RandomGenerator gen(f.train.seed);
  ClassifierModel model =
      build_model(f, static_cast<int64_t>(train.class_names.size()), gen, log);
  write_config(f, out, data.root, math);
  const ClassifierTrainResult trained = train_classifier(
      *model.net, model.trainable, gen, train, data.val, options, log, model.keep_in_eval);

  const EvalResult test = test_best_model(f, out, *model.net, data.test, trained, log);
  const nlohmann::json result = result_json(f, train, trained, test, pretrained_note, math);
  write_file_atomically((out / "result.json").string(), result.dump(2) + "\n");
  log.line("wrote " + (out / "result.json").string());
  return 0;
}

// Trains in --out (apps/run_folder.h: the lock, the --resume rule, train.log).
int run(const ClassifierFlags& f) {
  const fs::path out = f.out;
  return apps::run_in_folder(out, f.train.resume, {"last.safetensors", "result.json"},
                             [&](RunLog& log) { return train(f, out, log); });
}

}  // namespace

int main(int argc, char** argv) {
  return run_cli_main("train_classifier", "(train_classifier --help lists the flags)", [&] {
    const ClassifierFlags f = parse_classifier_flags(cli_args(argc, argv));
    if (f.help) return print_usage(kClassifierUsage);
    check_classifier_inputs(f);
    require_visible_device("--device", f.train.device);
    return apps::exit_when_data_missing("train_classifier", [&] { return run(f); });
  });
}
