// The classifier training loop (see classifier_trainer.h). train_classifier at the bottom reads
// as the recipe; each step above it is one short function: resume_from, train_step,
// end_of_epoch (validation, best model, plateau and early stopping, checkpoint, the log line).
#include "training/classifier_trainer.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "datasets/loader.h"
#include "nn/safetensors.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "optim/checkpoint.h"
#include "optim/clip.h"
#include "optim/ema.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "tensor/atomic_file.h"
#include "training/config_difference.h"
#include "training/evaluate.h"
#include "training/graphed_step.h"
#include "training/profiled_steps.h"

namespace ember::training {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::unique_ptr<optim::Optimizer> make_optimizer(const std::vector<Tensor>& params,
                                                 const ClassifierTrainOptions& o) {
  if (o.optimizer == "adam") {
    return std::make_unique<optim::Adam>(params,
                                         optim::AdamOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  }
  if (o.optimizer == "adamw") {
    return std::make_unique<optim::AdamW>(params,
                                          optim::AdamOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  }
  if (o.optimizer == "sgd") {
    return std::make_unique<optim::SGD>(
        params, optim::SGDOptions{.lr = o.lr, .momentum = o.momentum,
                                  .weight_decay = o.weight_decay, .nesterov = o.nesterov});
  }
  EMBER_FAIL("train_classifier: unknown optimizer '", o.optimizer, "' (adam, adamw or sgd)");
}

// The per-epoch schedule; null for plateau (driven by the validation loss instead).
std::unique_ptr<optim::LrSchedule> make_schedule(const ClassifierTrainOptions& o) {
  if (o.schedule == "constant") return std::make_unique<optim::ConstantLr>(o.lr);
  if (o.schedule == "cosine")
    return std::make_unique<optim::WarmupCosineLr>(o.lr, o.warmup_epochs, o.epochs, o.min_lr);
  if (o.schedule == "step") return std::make_unique<optim::StepLr>(o.lr, o.step_size, o.gamma);
  if (o.schedule == "plateau") return nullptr;
  EMBER_FAIL("train_classifier: unknown schedule '", o.schedule,
             "' (constant, cosine, step or plateau)");
}

std::optional<optim::ReduceLrOnPlateau> make_plateau(const ClassifierTrainOptions& o,
                                                     const optim::LrSchedule* schedule) {
  if (schedule) return std::nullopt;
  return optim::ReduceLrOnPlateau(optim::PlateauOptions{
      .factor = o.plateau_factor, .patience = o.plateau_patience, .min_lr = o.min_lr});
}

// The per-class loss weights on the device; undefined when the loss is unweighted.
Tensor class_weight_tensor(const ClassifierTrainOptions& o, int64_t classes) {
  if (o.class_weights.empty()) return Tensor();
  std::vector<float> w(o.class_weights.begin(), o.class_weights.end());
  return from_vector(w, {classes}, {.device = o.device});
}

// The state the loop carries between epochs besides the model and optimizer; it rides in the
// checkpoint's metadata.
struct LoopState {
  std::vector<EpochRecord> history;
  int64_t best_epoch = 0;
  double best_val_accuracy = -1, best_val_loss = 0;
  int64_t epochs_without_improvement = 0;
  bool stopped_early = false;
};

std::map<std::string, std::string> loop_metadata(const LoopState& s, const std::string& key,
                                                 const std::string& data) {
  // %a keeps the doubles exact through the text round trip.
  return {{"history", history_json(s.history).dump()},
          {"data_digest", data},
          {"best_epoch", std::to_string(s.best_epoch)},
          {"best_val_accuracy", format("%a", s.best_val_accuracy)},
          {"best_val_loss", format("%a", s.best_val_loss)},
          {"epochs_without_improvement", std::to_string(s.epochs_without_improvement)},
          {"stopped_early", s.stopped_early ? "1" : "0"},
          {"config_key", key}};
}

LoopState loop_state_from(const std::map<std::string, std::string>& m, const std::string& file) {
  auto get = [&](const char* name) -> const std::string& {
    const auto it = m.find(name);
    EMBER_CHECK(it != m.end(), "checkpoint ", file, " has no '", name,
                "' entry: it was not written by train_classifier");
    return it->second;
  };
  LoopState s;
  try {
    s.history = history_from_json(nlohmann::json::parse(get("history")));
  } catch (const nlohmann::json::exception& e) {
    EMBER_FAIL("checkpoint ", file, ": unreadable training history: ", e.what());
  }
  s.best_epoch = std::stoll(get("best_epoch"));
  s.best_val_accuracy = std::strtod(get("best_val_accuracy").c_str(), nullptr);
  s.best_val_loss = std::strtod(get("best_val_loss").c_str(), nullptr);
  s.epochs_without_improvement = std::stoll(get("epochs_without_improvement"));
  s.stopped_early = get("stopped_early") == "1";
  return s;
}

void check_classifier_options(const std::vector<Tensor>& params, const datasets::ImageSet& train,
                              const ClassifierTrainOptions& o) {
  EMBER_CHECK(o.epochs > 0, "train_classifier: epochs must be positive, got ", o.epochs);
  EMBER_CHECK(o.batch_size > 0, "train_classifier: batch size must be positive");
  EMBER_CHECK(!o.out_dir.empty(), "train_classifier: no output folder");
  EMBER_CHECK(!params.empty(), "train_classifier: nothing to train (every layer frozen?)");
  const int64_t classes = static_cast<int64_t>(train.class_names.size());
  EMBER_CHECK(o.class_weights.empty() || static_cast<int64_t>(o.class_weights.size()) == classes,
              "train_classifier: ", o.class_weights.size(), " class weights for ", classes,
              " classes");
}

// Everything a run carries from step to step: the model and what trains it (optimizer,
// schedule or plateau, weight average), the loader, the loop state and the result.
struct ClassifierRun {
  nn::Layer& model;
  const std::vector<Tensor>& params;
  const std::vector<nn::Module*>& keep_in_eval;
  const datasets::ImageSet& val;
  const ClassifierTrainOptions& o;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<optim::LrSchedule> schedule;
  std::optional<optim::ReduceLrOnPlateau> plateau;
  std::optional<optim::ExponentialMovingAverage> ema;
  optim::CheckpointParts parts;
  const std::string data_digest;
  const Tensor class_weight;
  datasets::Loader loader;
  LoopState state;
  int64_t first_epoch = 0;  // 0-based index of the first epoch this process runs
  ClassifierTrainResult result;
  GraphedStep steps;  // eager, or on CUDA captured once and replayed (o.cuda_graphs)
  ProfiledSteps profile{profiler::settings_from_env()};  // EMBER_PROFILE: off when unset

  ClassifierRun(nn::Layer& model_, const std::vector<Tensor>& params_,
                RandomGenerator& model_generator, const datasets::ImageSet& train,
                const datasets::ImageSet& val_, const ClassifierTrainOptions& options,
                const std::vector<nn::Module*>& keep_in_eval_)
      : model(model_),
        params(params_),
        keep_in_eval(keep_in_eval_),
        val(val_),
        o(options),
        optimizer(make_optimizer(params, o)),
        schedule(make_schedule(o)),
        plateau(make_plateau(o, schedule.get())),
        data_digest("train " + datasets::list_digest(train) + "; val " +
                    datasets::list_digest(val)),
        class_weight(class_weight_tensor(o, static_cast<int64_t>(train.class_names.size()))),
        loader(train, {.batch_size = o.batch_size,
                       .shuffle = true,
                       .seed = o.seed,
                       // A last batch of one image breaks BatchNorm's statistics.
                       .last_batch = datasets::LastBatch::Drop,
                       .balanced = o.balanced,
                       .augment = {.flips_and_rotations = o.augment},
                       .device = o.device,
                       .pixel_dtype = o.pixel_dtype}),
        steps({.enabled = o.cuda_graphs, .device = o.device}) {
    if (o.ema_decay > 0) ema.emplace(model, o.ema_decay);
    parts = {.model = &model,
             .optimizer = optimizer.get(),
             .schedule = schedule.get(),
             .plateau = plateau ? &*plateau : nullptr,
             .ema = ema ? &*ema : nullptr,
             .generators = {{"model", &model_generator}}};
    result.last_path = o.out_dir / "last.safetensors";
    result.best_path = o.out_dir / "best.safetensors";
  }
  ClassifierRun(const ClassifierRun&) = delete;  // the checkpoint parts point into it
};

// Refuses a checkpoint of another configuration or other data before anything is loaded, so
// a mismatch changes nothing.
void check_resumable(const ClassifierRun& run) {
  const std::string path = run.result.last_path.string();
  const auto file = nn::read_safetensors(path);
  const auto key = file.metadata.find("config_key");
  const std::string theirs = key == file.metadata.end() ? "(none)" : key->second;
  EMBER_CHECK(theirs == run.o.config_key, "cannot resume from ", path,
              ": it was written by a run with another configuration: ",
              config_difference(theirs, run.o.config_key));
  const auto data = file.metadata.find("data_digest");
  const std::string trained_on = data == file.metadata.end() ? "(not recorded)" : data->second;
  EMBER_CHECK(trained_on == run.data_digest, "cannot resume from ", path,
              ": it was trained on other data (the data folder, a split list or the subset "
              "changed)\n  its:  ", trained_on, "\n  this: ", run.data_digest);
}

// Restores last.safetensors: model, optimizer, schedule, weight average, the dropout
// generator and the loop state, so the run goes on exactly as if never stopped.
void resume_from(ClassifierRun& run, RunLog& log) {
  check_resumable(run);
  const optim::CheckpointInfo info =
      optim::load_checkpoint(run.result.last_path.string(), run.parts);
  run.state = loop_state_from(info.metadata, run.result.last_path.string());
  run.first_epoch = info.epoch;
  run.result.resumed = true;
  run.result.resumed_from_epoch = run.first_epoch;
  log.line(format("resumed from %s after epoch %lld (best so far: epoch %lld, val accuracy %.4f)",
                  run.result.last_path.c_str(), static_cast<long long>(run.first_epoch),
                  static_cast<long long>(run.state.best_epoch), run.state.best_val_accuracy));
}

void log_plan(const ClassifierRun& run, RunLog& log) {
  const ClassifierTrainOptions& o = run.o;
  log.line(format("training: %lld images, %lld batches of %lld per epoch, %lld epochs, %s lr %g, "
                  "schedule %s, on %s",
                  static_cast<long long>(run.loader.epoch_size()),
                  static_cast<long long>(run.loader.batches_per_epoch()),
                  static_cast<long long>(o.batch_size), static_cast<long long>(o.epochs),
                  o.optimizer.c_str(), o.lr, o.schedule.c_str(), o.device.str().c_str()));
  if (run.steps.replaying())
    log.line(format("CUDA graphs: the training step is captured after %lld eager warm-up steps "
                    "and then replayed, one launch per step (--cuda-graphs off: every step eager)",
                    static_cast<long long>(run.steps.warmup_steps())));
  else if (o.cuda_graphs && o.device.is_cuda())
    log.line("CUDA graphs: off, every step eager: " + run.steps.unavailable_reason());
}

// Running sums of an epoch. They stay on the device so a step does not wait for the host;
// they are read at progress lines and at the end of the epoch.
struct TrainSums {
  Tensor loss_sum, correct;
  int64_t seen = 0;
  explicit TrainSums(const Device& device)
      : loss_sum(zeros({}, {.dtype = DType::Float64, .device = device})),
        correct(zeros({}, {.dtype = DType::Float64, .device = device})) {}
};

// One optimizer step on a batch of images and labels (forward, loss, backward, clipping, step,
// weight average). Returns the batch's mean loss and its number of correct predictions (float64
// scalars on the device), detached. Reads nothing back, so it can be captured in a CUDA graph.
std::vector<Tensor> optimizer_step(ClassifierRun& run, const Tensor& images, const Tensor& labels) {
  run.optimizer->zero_grad(/*set_to_none=*/true);  // backward assigns: no fill, no add
  const Tensor logits = run.model(images);
  const Tensor loss = cross_entropy(logits, labels, run.class_weight, run.o.label_smoothing);
  loss.backward();
  // On the device, reading nothing back: the norm itself is not needed here.
  if (run.o.clip_norm > 0) optim::clip_grad_norm_device(run.params, run.o.clip_norm);
  run.optimizer->step();
  if (run.ema) run.ema->update();
  NoGradGuard no_grad;
  // equal() compares floating-point tensors; class indices are exact in float32.
  const Tensor predicted = argmax(logits.detach(), 1).to(DType::Float32);
  return {loss.detach().to(DType::Float64),
          sum(equal(predicted, labels.to(DType::Float32)).to(DType::Float64))};
}

// One step on a batch, eager or replayed from its CUDA graph (run.steps), adding its loss and
// correct predictions to the sums. The sums stay outside the graph: they are made afresh every
// epoch, and a graph may only touch tensors that live as long as it does.
void train_step(ClassifierRun& run, const datasets::Batch& batch, TrainSums& sums) {
  const int64_t b = static_cast<int64_t>(batch.indices.size());
  const std::vector<Tensor> out =
      run.steps.run({batch.images, batch.labels}, [&run](const std::vector<Tensor>& in) {
        return optimizer_step(run, in[0], in[1]);
      });
  NoGradGuard no_grad;
  add_(sums.loss_sum, out[0], static_cast<double>(b));
  add_(sums.correct, out[1]);
  sums.seen += b;
}

// At every progress_every batches and the epoch's last: a non-finite mean loss ends the run
// naming the last good state; otherwise (not the last batch) a progress line.
void check_and_log_progress(const ClassifierRun& run, int64_t epoch, int64_t batch_number,
                            const TrainSums& sums, Clock::time_point train_start, RunLog& log) {
  const int64_t batches = run.loader.batches_per_epoch();
  const bool last = batch_number + 1 == batches;
  const int64_t every = run.o.progress_every;
  if (!last && !(every > 0 && (batch_number + 1) % every == 0)) return;
  const double mean_loss = sums.loss_sum.item<double>() / sums.seen;
  EMBER_CHECK(std::isfinite(mean_loss), "training diverged: the loss is ", mean_loss,
              " at epoch ", epoch + 1, ", batch ", batch_number + 1, ". The last good state is ",
              std::filesystem::exists(run.result.last_path) ? run.result.last_path.string()
                                                            : std::string("(none yet)"),
              " (untouched); try a lower learning rate or --clip-norm");
  if (last) return;
  const double rate = sums.seen / seconds_since(train_start);
  log.progress(format("  epoch %lld batch %lld/%lld  loss %.4f  acc %.4f  %.1f img/s",
                      static_cast<long long>(epoch + 1), static_cast<long long>(batch_number + 1),
                      static_cast<long long>(batches), mean_loss,
                      sums.correct.item<double>() / sums.seen, rate));
}

// The epoch's training half: the schedule's learning rate, then a train_step per batch.
// Returns the record with the training fields filled in.
EpochRecord train_one_epoch(ClassifierRun& run, int64_t epoch, RunLog& log) {
  if (run.schedule) run.schedule->apply(*run.optimizer, epoch);
  const double lr = run.optimizer->lr();
  run.model.train();
  for (nn::Module* m : run.keep_in_eval) m->eval();
  TrainSums sums(run.o.device);
  run.loader.start_epoch(epoch);
  const auto train_start = Clock::now();
  while (std::optional<datasets::Batch> batch = run.loader.next()) {
    run.profile.begin_step();
    train_step(run, *batch, sums);
    if (const std::string wrote = run.profile.end_step(); !wrote.empty()) log.line(wrote);
    check_and_log_progress(run, epoch, batch->number, sums, train_start, log);
  }
  const double train_seconds = seconds_since(train_start);
  EpochRecord record;
  record.epoch = epoch + 1;
  record.lr = lr;
  record.train_loss = sums.loss_sum.item<double>() / sums.seen;
  record.train_accuracy = sums.correct.item<double>() / sums.seen;
  record.train_images_per_second = sums.seen / train_seconds;
  return record;
}

// Validates (with the weight average swapped in, when kept) and keeps the model as
// best.safetensors when it beats the best so far (accuracy; ties: lower loss). True if it did.
bool validate_and_keep_best(ClassifierRun& run, EpochRecord& record) {
  LoopState& state = run.state;
  if (run.ema) run.ema->swap_in();
  const EvalResult v = evaluate_classifier(run.model, run.val, {.batch_size = run.o.eval_batch_size,
                                                                .device = run.o.device,
                                                                .pixel_dtype = run.o.pixel_dtype});
  record.val_loss = v.loss;
  record.val_accuracy = v.confusion.accuracy();
  const bool better = record.val_accuracy > state.best_val_accuracy ||
                      (record.val_accuracy == state.best_val_accuracy &&
                       record.val_loss < state.best_val_loss);
  if (better) {
    nn::save_module(run.model, run.result.best_path.string(),
                    {{"epoch", std::to_string(record.epoch)},
                     {"val_accuracy", format("%.6f", record.val_accuracy)},
                     {"val_loss", format("%.6f", record.val_loss)},
                     {"ema", run.ema ? "1" : "0"}});
    state.best_epoch = record.epoch;
    state.best_val_accuracy = record.val_accuracy;
    state.best_val_loss = record.val_loss;
    state.epochs_without_improvement = 0;
  } else {
    ++state.epochs_without_improvement;
  }
  if (run.ema) run.ema->restore();
  return better;
}

// The plateau schedule's step on the validation loss, and the early-stopping decision.
void update_plateau_and_early_stop(ClassifierRun& run, const EpochRecord& record, RunLog& log) {
  if (run.plateau && run.plateau->step(*run.optimizer, record.val_loss)) {
    log.line(format("  validation loss plateaued: learning rate now %g", run.optimizer->lr()));
  }
  if (run.o.early_stopping_patience > 0 &&
      run.state.epochs_without_improvement >= run.o.early_stopping_patience) {
    run.state.stopped_early = true;
  }
}

void log_epoch(const ClassifierRun& run, const EpochRecord& record, bool better, RunLog& log) {
  const LoopState& state = run.state;
  // The ETA uses this process's epochs only: a resumed run may run at another speed.
  double mean_epoch = 0;
  for (size_t i = static_cast<size_t>(run.first_epoch); i < state.history.size(); ++i)
    mean_epoch += state.history[i].seconds;
  mean_epoch /= static_cast<double>(state.history.size() - run.first_epoch);
  const int64_t left = state.stopped_early ? 0 : run.o.epochs - record.epoch;
  log.line(format("epoch %lld/%lld  lr %.3g  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f%s"
                  "  %.1f img/s  %s/epoch  ETA %s",
                  static_cast<long long>(record.epoch), static_cast<long long>(run.o.epochs),
                  record.lr, record.train_loss, record.train_accuracy, record.val_loss,
                  record.val_accuracy, better ? " *" : "  ", record.train_images_per_second,
                  format_duration(record.seconds).c_str(),
                  format_duration(mean_epoch * left).c_str()));
  if (state.stopped_early) {
    log.line(format("early stopping: no better validation accuracy for %lld epochs (best: "
                    "epoch %lld, %.4f)",
                    static_cast<long long>(state.epochs_without_improvement),
                    static_cast<long long>(state.best_epoch), state.best_val_accuracy));
  }
}

// After the training half: validation and the best model, plateau and early stopping, the
// checkpoint (last.safetensors) and history.csv, the log line.
void end_of_epoch(ClassifierRun& run, EpochRecord record, Clock::time_point epoch_start,
                  RunLog& log) {
  const bool better = validate_and_keep_best(run, record);
  update_plateau_and_early_stop(run, record, log);
  record.seconds = seconds_since(epoch_start);
  run.state.history.push_back(record);
  optim::save_checkpoint(run.result.last_path.string(), run.parts,
                         {.epoch = record.epoch,
                          .step = run.optimizer->step_count(),
                          .metadata = loop_metadata(run.state, run.o.config_key, run.data_digest)});
  write_file_atomically((run.o.out_dir / "history.csv").string(), history_csv(run.state.history));
  log_epoch(run, record, better, log);
}

ClassifierTrainResult finished(ClassifierRun& run) {
  ClassifierTrainResult& result = run.result;
  const LoopState& state = run.state;
  result.history = state.history;
  result.best_epoch = state.best_epoch;
  result.best_val_accuracy = state.best_val_accuracy;
  result.best_val_loss = state.best_val_loss;
  result.stopped_early = state.stopped_early;
  for (const EpochRecord& r : state.history) result.train_seconds += r.seconds;
  return result;
}

}  // namespace

ClassifierTrainResult train_classifier(nn::Layer& model, const std::vector<Tensor>& params,
                                       RandomGenerator& model_generator,
                                       const datasets::ImageSet& train,
                                       const datasets::ImageSet& val,
                                       const ClassifierTrainOptions& o, RunLog& log,
                                       const std::vector<nn::Module*>& keep_in_eval) {
  check_classifier_options(params, train, o);
  std::filesystem::create_directories(o.out_dir);
  ClassifierRun run(model, params, model_generator, train, val, o, keep_in_eval);
  if (o.resume && std::filesystem::exists(run.result.last_path)) resume_from(run, log);
  log_plan(run, log);

  for (int64_t epoch = run.first_epoch; epoch < o.epochs && !run.state.stopped_early; ++epoch) {
    const auto epoch_start = Clock::now();
    const EpochRecord record = train_one_epoch(run, epoch, log);
    end_of_epoch(run, record, epoch_start, log);
  }
  if (const std::string wrote = run.profile.finish(); !wrote.empty()) log.line(wrote);
  return finished(run);
}

}  // namespace ember::training
