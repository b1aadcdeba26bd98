// The classifier training loop: epochs of mini-batch training on a training ImageSet, an
// evaluation on the validation set after each epoch, the best model kept by validation
// accuracy (ties: lower validation loss), early stopping, learning-rate schedules, and a
// checkpoint after every epoch from which an interrupted run resumes exactly (the loader's
// order is a pure function of (seed, epoch) and the checkpoint holds the model, optimizer,
// schedule state, weight average and the model's dropout generator).
//
// Files in out_dir:
//   last.safetensors    the state after the last finished epoch (optim/checkpoint.h layout),
//                       with the history and the early-stopping state in its metadata
//   best.safetensors    the model (module_state: parameters and buffers) of the best epoch,
//                       with the EMA weights swapped in when an EMA is kept
//   history.csv         one row per epoch (rewritten atomically after each)
// Both .safetensors files are written atomically, so a kill leaves the previous one intact.
//
// In classifier_trainer.cpp, train_classifier reads as its steps: resume_from, then per epoch
// train_one_epoch (a train_step per batch) and end_of_epoch (validation and the best model,
// plateau and early stopping, checkpoint, the log line).
//
// Used by apps/train_classifier; tested in tests/test_training_trainer.cpp (a small model on
// synthetic images: learning, early stopping, and a resumed run giving the same history and
// weights as an uninterrupted one).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "datasets/image_set.h"
#include "nn/module.h"
#include "tensor/random.h"
#include "training/classifier_history.h"
#include "training/run_log.h"

namespace ember::training {

struct ClassifierTrainOptions {
  int64_t epochs = 10;
  int64_t batch_size = 32;
  int64_t eval_batch_size = 128;
  std::string optimizer = "adam";      // adam | adamw | sgd
  double lr = 1e-3;
  double weight_decay = 0.0;           // adamw's decoupled decay, or L2 for adam and sgd
  double momentum = 0.9;               // sgd
  bool nesterov = false;               // sgd
  std::string schedule = "constant";   // constant | cosine | step | plateau (per epoch)
  int64_t warmup_epochs = 0;           // cosine
  double min_lr = 0.0;                 // cosine, plateau
  int64_t step_size = 10;              // step: lr *= gamma every step_size epochs
  double gamma = 0.1;                  // step
  int64_t plateau_patience = 2;        // plateau: on validation loss
  double plateau_factor = 0.2;         // plateau
  int64_t early_stopping_patience = 0; // stop after this many epochs without a better
                                       // validation accuracy; 0: never
  double clip_norm = 0.0;              // 0: no clipping
  double label_smoothing = 0.0;
  double ema_decay = 0.0;              // 0: no weight average; else validation uses it
  bool augment = false;                // the 8 square symmetries (datasets/augment.h)
  bool balanced = false;               // class-balanced sampler (datasets/loader.h)
  std::vector<double> class_weights;   // per-class loss weights; empty: unweighted
  Device device = Device::cpu();
  // The batches' pixels (training and validation; datasets::LoaderOptions::pixel_dtype): uint8
  // uploads a quarter of the bytes and the model converts them (EfficientNet fuses that with its
  // rescaling, bit for bit the float32 result); float32 for a model that takes floats.
  DType pixel_dtype = DType::UInt8;
  // On CUDA, each training step is captured once per batch shape in a CUDA graph and replayed
  // (training/graphed_step.h): the numbers of eager steps, one launch instead of hundreds.
  // Ignored on the CPU.
  bool cuda_graphs = true;
  uint64_t seed = 0;                   // the loader's shuffle and augmentation
  int64_t progress_every = 50;         // a stdout line every this many batches; 0: none
  std::filesystem::path out_dir;       // where the files above go (created); required
  bool resume = false;                 // continue from out_dir/last.safetensors
  // Compared on resume with the checkpoint's: a resumed run with another configuration is an
  // error naming both. The app passes every flag that changes the training.
  std::string config_key;
};

struct ClassifierTrainResult {
  std::vector<EpochRecord> history;
  int64_t best_epoch = 0;            // 1-based; 0 when no epoch ran
  double best_val_accuracy = 0, best_val_loss = 0;
  bool stopped_early = false;
  bool resumed = false;
  int64_t resumed_from_epoch = 0;
  double train_seconds = 0;          // summed over the history (all sessions)
  std::filesystem::path best_path, last_path;
};

// Trains `params` (the trainable subset of model's parameters) of `model`. `keep_in_eval`
// lists sub-modules that stay in inference mode while training (frozen batch norms).
// `model_generator` is the generator the model draws its dropout masks from (saved in the
// checkpoint). The model must already be on options.device.
ClassifierTrainResult train_classifier(nn::Layer& model, const std::vector<Tensor>& params,
                                       RandomGenerator& model_generator,
                                       const datasets::ImageSet& train,
                                       const datasets::ImageSet& val,
                                       const ClassifierTrainOptions& options, RunLog& log,
                                       const std::vector<nn::Module*>& keep_in_eval = {});

}  // namespace ember::training
