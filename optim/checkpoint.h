// Training checkpoints: one safetensors file holding everything a resumed run needs (the
// model's parameters and buffers, the optimizer's state, an optional learning-rate schedule,
// plateau scheduler and weight average, the epoch and step, named random generators and user
// metadata), written atomically through write_safetensors (temporary file, fsync, rename).
// The layout (docs/safetensors.md, "Checkpoints") follows the idea of PyTorch's
// {model, optimizer, epoch, rng} checkpoint dictionaries, stored as safetensors instead of
// pickle. Lives in optim/ because it ties nn::Module to the optimizers.
// Tested in tests/test_checkpoint.cpp: round trips of every part, a resumed run that gives
// bit-identical losses and parameters to an uninterrupted one, mismatch and corrupt-file
// errors, and a failed save that leaves the old checkpoint intact.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"
#include "optim/ema.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "tensor/random.h"

namespace ember::optim {

// What a checkpoint saves from / loads into. Only `model` is required; a null part is neither
// saved nor loaded (a part present in the file but not asked for on load is ignored, so an
// evaluation program can load just the model).
struct CheckpointParts {
  nn::Module* model = nullptr;
  Optimizer* optimizer = nullptr;
  const LrSchedule* schedule = nullptr;   // configuration only: load checks it matches
  ReduceLrOnPlateau* plateau = nullptr;
  ExponentialMovingAverage* ema = nullptr;
  // Generators by name (e.g. {"dropout", &gen}); each requested name must be in the file.
  std::vector<std::pair<std::string, RandomGenerator*>> generators;
};

// The plain values stored beside the parts.
struct CheckpointInfo {
  int64_t epoch = 0;  // e.g. epochs completed
  int64_t step = 0;   // e.g. optimizer steps completed
  // Free-form user strings (run name, flags, best metric...). Keys must not be "format" or
  // "ember.checkpoint", which the layout uses.
  std::map<std::string, std::string> metadata;
};

// Writes `parts` and `info` to `path` atomically: on any failure an existing file at `path` is
// left as it was.
void save_checkpoint(const std::string& path, const CheckpointParts& parts,
                     const CheckpointInfo& info = {});

// Reads `path` and restores every non-null part; returns the epoch, step and user metadata.
// Everything is checked before anything changes (model names, shapes and dtypes, optimizer
// kind and state, schedule configuration, generator names); a failure throws an ember::Error
// naming the file and the missing or mismatched entry, and leaves the parts unchanged.
CheckpointInfo load_checkpoint(const std::string& path, const CheckpointParts& parts);

}  // namespace ember::optim
