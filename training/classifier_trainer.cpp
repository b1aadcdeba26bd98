// The classifier training loop (see classifier_trainer.h).
#include "training/classifier_trainer.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <set>

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
#include "training/evaluate.h"

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

nlohmann::json history_json(const std::vector<EpochRecord>& history) {
  nlohmann::json out = nlohmann::json::array();
  for (const EpochRecord& r : history) {
    out.push_back({{"epoch", r.epoch}, {"lr", r.lr}, {"train_loss", r.train_loss},
                   {"train_accuracy", r.train_accuracy}, {"val_loss", r.val_loss},
                   {"val_accuracy", r.val_accuracy}, {"seconds", r.seconds},
                   {"train_images_per_second", r.train_images_per_second}});
  }
  return out;
}

std::vector<EpochRecord> history_from_json(const nlohmann::json& j) {
  std::vector<EpochRecord> out;
  for (const auto& r : j) {
    out.push_back({.epoch = r.at("epoch"), .lr = r.at("lr"), .train_loss = r.at("train_loss"),
                   .train_accuracy = r.at("train_accuracy"), .val_loss = r.at("val_loss"),
                   .val_accuracy = r.at("val_accuracy"), .seconds = r.at("seconds"),
                   .train_images_per_second = r.at("train_images_per_second")});
  }
  return out;
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

// What differs between two configuration keys: the differing fields when both are JSON
// objects (as the app's are), else both texts.
std::string config_difference(const std::string& theirs, const std::string& mine) {
  const nlohmann::json a = nlohmann::json::parse(theirs, nullptr, false);
  const nlohmann::json b = nlohmann::json::parse(mine, nullptr, false);
  if (!a.is_object() || !b.is_object()) return "\n  its:  " + theirs + "\n  this: " + mine;
  std::string out;
  auto show = [](const nlohmann::json& j, const std::string& k) {
    return j.contains(k) ? j.at(k).dump() : std::string("(absent)");
  };
  std::set<std::string> keys;
  for (const auto& [k, _] : a.items()) keys.insert(k);
  for (const auto& [k, _] : b.items()) keys.insert(k);
  for (const std::string& k : keys)
    if (show(a, k) != show(b, k))
      out += "\n  " + k + ": the checkpoint's " + show(a, k) + ", this run's " + show(b, k);
  return out;
}

}  // namespace

std::string history_csv(const std::vector<EpochRecord>& history) {
  std::string out =
      "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,seconds,train_images_per_second\n";
  for (const EpochRecord& r : history) {
    out += format("%lld,%.6g,%.6f,%.6f,%.6f,%.6f,%.3f,%.2f\n", static_cast<long long>(r.epoch),
                  r.lr, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy, r.seconds,
                  r.train_images_per_second);
  }
  return out;
}

ClassifierTrainResult train_classifier(nn::Layer& model, const std::vector<Tensor>& params,
                                       RandomGenerator& model_generator,
                                       const datasets::ImageSet& train,
                                       const datasets::ImageSet& val,
                                       const ClassifierTrainOptions& o, RunLog& log,
                                       const std::vector<nn::Module*>& keep_in_eval) {
  EMBER_CHECK(o.epochs > 0, "train_classifier: epochs must be positive, got ", o.epochs);
  EMBER_CHECK(o.batch_size > 0, "train_classifier: batch size must be positive");
  EMBER_CHECK(!o.out_dir.empty(), "train_classifier: no output folder");
  EMBER_CHECK(!params.empty(), "train_classifier: nothing to train (every layer frozen?)");
  const int64_t classes = static_cast<int64_t>(train.class_names.size());
  EMBER_CHECK(o.class_weights.empty() || static_cast<int64_t>(o.class_weights.size()) == classes,
              "train_classifier: ", o.class_weights.size(), " class weights for ", classes,
              " classes");
  std::filesystem::create_directories(o.out_dir);

  ClassifierTrainResult result;
  result.last_path = o.out_dir / "last.safetensors";
  result.best_path = o.out_dir / "best.safetensors";

  std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(params, o);
  std::unique_ptr<optim::LrSchedule> schedule = make_schedule(o);
  std::optional<optim::ReduceLrOnPlateau> plateau;
  if (!schedule) {
    plateau.emplace(optim::PlateauOptions{.factor = o.plateau_factor,
                                          .patience = o.plateau_patience,
                                          .min_lr = o.min_lr});
  }
  std::optional<optim::ExponentialMovingAverage> ema;
  if (o.ema_decay > 0) ema.emplace(model, o.ema_decay);

  const optim::CheckpointParts parts{.model = &model,
                                     .optimizer = optimizer.get(),
                                     .schedule = schedule.get(),
                                     .plateau = plateau ? &*plateau : nullptr,
                                     .ema = ema ? &*ema : nullptr,
                                     .generators = {{"model", &model_generator}}};
  LoopState state;
  int64_t first_epoch = 0;  // 0-based index of the next epoch to run
  const std::string data_digest =
      "train " + datasets::list_digest(train) + "; val " + datasets::list_digest(val);
  if (o.resume && std::filesystem::exists(result.last_path)) {
    // Check the configuration before anything is loaded, so a mismatch changes nothing.
    const auto file = nn::read_safetensors(result.last_path.string());
    const auto key = file.metadata.find("config_key");
    const std::string theirs = key == file.metadata.end() ? "(none)" : key->second;
    EMBER_CHECK(theirs == o.config_key, "cannot resume from ", result.last_path.string(),
                ": it was written by a run with another configuration: ",
                config_difference(theirs, o.config_key));
    const auto data = file.metadata.find("data_digest");
    const std::string trained_on = data == file.metadata.end() ? "(not recorded)" : data->second;
    EMBER_CHECK(trained_on == data_digest, "cannot resume from ", result.last_path.string(),
                ": it was trained on other data (the data folder, a split list or the subset "
                "changed)\n  its:  ", trained_on, "\n  this: ", data_digest);
    const optim::CheckpointInfo info = optim::load_checkpoint(result.last_path.string(), parts);
    state = loop_state_from(info.metadata, result.last_path.string());
    first_epoch = info.epoch;
    result.resumed = true;
    result.resumed_from_epoch = first_epoch;
    log.line(format("resumed from %s after epoch %lld (best so far: epoch %lld, val accuracy %.4f)",
                    result.last_path.c_str(), static_cast<long long>(first_epoch),
                    static_cast<long long>(state.best_epoch), state.best_val_accuracy));
  }

  Tensor class_weight;
  if (!o.class_weights.empty()) {
    std::vector<float> w(o.class_weights.begin(), o.class_weights.end());
    class_weight = from_vector(w, {classes}, {.device = o.device});
  }
  datasets::Loader loader(train, {.batch_size = o.batch_size,
                                  .shuffle = true,
                                  .seed = o.seed,
                                  // A last batch of one image breaks BatchNorm's statistics.
                                  .last_batch = datasets::LastBatch::Drop,
                                  .balanced = o.balanced,
                                  .augment = {.flips_and_rotations = o.augment},
                                  .device = o.device});
  const int64_t batches = loader.batches_per_epoch();
  log.line(format("training: %lld images, %lld batches of %lld per epoch, %lld epochs, %s lr %g, "
                  "schedule %s, on %s",
                  static_cast<long long>(loader.epoch_size()), static_cast<long long>(batches),
                  static_cast<long long>(o.batch_size), static_cast<long long>(o.epochs),
                  o.optimizer.c_str(), o.lr, o.schedule.c_str(), o.device.str().c_str()));

  for (int64_t epoch = first_epoch; epoch < o.epochs && !state.stopped_early; ++epoch) {
    const auto epoch_start = Clock::now();
    if (schedule) schedule->apply(*optimizer, epoch);
    const double lr = optimizer->lr();
    model.train();
    for (nn::Module* m : keep_in_eval) m->eval();

    // Running sums stay on the device so a step does not wait for the host; they are read at
    // progress lines and at the end of the epoch.
    Tensor loss_sum = zeros({}, {.dtype = DType::Float64, .device = o.device});
    Tensor correct = zeros({}, {.dtype = DType::Float64, .device = o.device});
    int64_t seen = 0;
    loader.start_epoch(epoch);
    const auto train_start = Clock::now();
    while (std::optional<datasets::Batch> batch = loader.next()) {
      const int64_t b = static_cast<int64_t>(batch->indices.size());
      optimizer->zero_grad();
      const Tensor logits = model(batch->images);
      const Tensor loss = cross_entropy(logits, batch->labels, class_weight, o.label_smoothing);
      loss.backward();
      if (o.clip_norm > 0) optim::clip_grad_norm(params, o.clip_norm);
      optimizer->step();
      if (ema) ema->update();
      {
        NoGradGuard no_grad;
        add_(loss_sum, loss.detach().to(DType::Float64), static_cast<double>(b));
        // equal() compares floating-point tensors; class indices are exact in float32.
        const Tensor predicted = argmax(logits.detach(), 1).to(DType::Float32);
        add_(correct, sum(equal(predicted, batch->labels.to(DType::Float32)).to(DType::Float64)));
      }
      seen += b;
      const bool last = batch->number + 1 == batches;
      if (last || (o.progress_every > 0 && (batch->number + 1) % o.progress_every == 0)) {
        const double mean_loss = loss_sum.item<double>() / seen;
        EMBER_CHECK(std::isfinite(mean_loss), "training diverged: the loss is ", mean_loss,
                    " at epoch ", epoch + 1, ", batch ", batch->number + 1, ". The last good state is ",
                    std::filesystem::exists(result.last_path) ? result.last_path.string()
                                                              : std::string("(none yet)"),
                    " (untouched); try a lower learning rate or --clip-norm");
        if (!last) {
          const double rate = seen / seconds_since(train_start);
          log.progress(format("  epoch %lld batch %lld/%lld  loss %.4f  acc %.4f  %.1f img/s",
                              static_cast<long long>(epoch + 1),
                              static_cast<long long>(batch->number + 1),
                              static_cast<long long>(batches), mean_loss,
                              correct.item<double>() / seen, rate));
        }
      }
    }
    const double train_seconds = seconds_since(train_start);

    EpochRecord record;
    record.epoch = epoch + 1;
    record.lr = lr;
    record.train_loss = loss_sum.item<double>() / seen;
    record.train_accuracy = correct.item<double>() / seen;
    record.train_images_per_second = seen / train_seconds;

    if (ema) ema->swap_in();
    const EvalResult v = evaluate_classifier(model, val, {.batch_size = o.eval_batch_size,
                                                         .device = o.device});
    record.val_loss = v.loss;
    record.val_accuracy = v.confusion.accuracy();
    const bool better = record.val_accuracy > state.best_val_accuracy ||
                        (record.val_accuracy == state.best_val_accuracy &&
                         record.val_loss < state.best_val_loss);
    if (better) {
      nn::save_module(model, result.best_path.string(),
                      {{"epoch", std::to_string(record.epoch)},
                       {"val_accuracy", format("%.6f", record.val_accuracy)},
                       {"val_loss", format("%.6f", record.val_loss)},
                       {"ema", ema ? "1" : "0"}});
      state.best_epoch = record.epoch;
      state.best_val_accuracy = record.val_accuracy;
      state.best_val_loss = record.val_loss;
      state.epochs_without_improvement = 0;
    } else {
      ++state.epochs_without_improvement;
    }
    if (ema) ema->restore();
    if (plateau && plateau->step(*optimizer, record.val_loss)) {
      log.line(format("  validation loss plateaued: learning rate now %g", optimizer->lr()));
    }
    if (o.early_stopping_patience > 0 &&
        state.epochs_without_improvement >= o.early_stopping_patience) {
      state.stopped_early = true;
    }
    record.seconds = seconds_since(epoch_start);
    state.history.push_back(record);

    optim::save_checkpoint(result.last_path.string(), parts,
                           {.epoch = epoch + 1,
                            .step = optimizer->step_count(),
                            .metadata = loop_metadata(state, o.config_key, data_digest)});
    write_file_atomically((o.out_dir / "history.csv").string(), history_csv(state.history));

    // The ETA uses this process's epochs only: a resumed run may run at another speed.
    double mean_epoch = 0;
    for (size_t i = static_cast<size_t>(first_epoch); i < state.history.size(); ++i)
      mean_epoch += state.history[i].seconds;
    mean_epoch /= static_cast<double>(state.history.size() - first_epoch);
    const int64_t left = state.stopped_early ? 0 : o.epochs - (epoch + 1);
    log.line(format("epoch %lld/%lld  lr %.3g  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f%s"
                    "  %.1f img/s  %s/epoch  ETA %s",
                    static_cast<long long>(epoch + 1), static_cast<long long>(o.epochs), lr,
                    record.train_loss, record.train_accuracy, record.val_loss,
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

  result.history = state.history;
  result.best_epoch = state.best_epoch;
  result.best_val_accuracy = state.best_val_accuracy;
  result.best_val_loss = state.best_val_loss;
  result.stopped_early = state.stopped_early;
  for (const EpochRecord& r : state.history) result.train_seconds += r.seconds;
  return result;
}

}  // namespace ember::training
