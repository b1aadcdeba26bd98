// Training checkpoints (optim/checkpoint.h): every part round-trips exactly (uint64 generator
// states at the extremes, an infinite plateau "best", hexfloat scalars); a run interrupted after
// 3 steps, saved, and resumed into freshly built objects gives bit-identical losses and
// parameters to an uninterrupted 6-step run (MLP with batch norm and dropout, AdamW, warm-up
// cosine schedule); mismatches and damaged files fail naming the problem and change nothing;
// a failed save leaves the old checkpoint as it was.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "nn/layers.h"
#include "nn/safetensors.h"
#include "nn/sequential.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "optim/checkpoint.h"
#include "optim/ema.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "tests/expect_error.h"
#include "tests/temp_dir.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using testing::expect_error;

// Temporary folders named after this file's tests (tests/temp_dir.h).
struct TempDir : testing::TempDir {
  TempDir() : testing::TempDir("checkpoint") {}
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A small training setup: Linear -> BatchNorm -> ReLU -> Dropout -> Linear, AdamW, warm-up
// cosine over 6 steps. `init_seed` and `dropout_seed` differ between the runs compared, so a
// resumed run only matches if the checkpoint restored the weights and the dropout stream.
struct TrainingRun {
  RandomGenerator init_gen;
  RandomGenerator dropout_gen;
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<optim::AdamW> optimizer;
  optim::WarmupCosineLr schedule{0.05, 2, 6, 0.001};

  TrainingRun(uint64_t init_seed, uint64_t dropout_seed, int64_t hidden = 8)
      : init_gen(init_seed), dropout_gen(dropout_seed) {
    model = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Layer>>{
        std::make_shared<nn::Linear>(4, hidden, init_gen), std::make_shared<nn::BatchNorm>(hidden),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.3, dropout_gen),
        std::make_shared<nn::Linear>(hidden, 3, init_gen)});
    optimizer = std::make_unique<optim::AdamW>(model->parameters());
  }

  optim::CheckpointParts parts() {
    return {.model = model.get(), .optimizer = optimizer.get(), .schedule = &schedule,
            .generators = {{"dropout", &dropout_gen}}};
  }

  // Step t trains on batch t (drawn from its own seed, so it does not depend on the run).
  double step(int64_t t) {
    RandomGenerator data_gen(1000 + static_cast<uint64_t>(t));
    const Tensor x = rand_normal({6, 4}, data_gen);
    const Tensor y = from_vector<int64_t>({0, 1, 2, 1, 0, 2}, {6}, {.dtype = DType::Int64});
    schedule.apply(*optimizer, t);
    optimizer->zero_grad();
    Tensor loss = cross_entropy(model->forward(x), y);
    loss.backward();
    optimizer->step();
    return static_cast<double>(loss.item<float>());
  }
};

optim::CheckpointInfo info_at(int64_t epoch, int64_t step) {
  optim::CheckpointInfo info;
  info.epoch = epoch;
  info.step = step;
  return info;
}

optim::CheckpointParts model_only_parts(nn::Module& model) {
  optim::CheckpointParts parts;
  parts.model = &model;
  return parts;
}

std::vector<std::vector<float>> values_of(const nn::Module& module) {
  std::vector<std::vector<float>> out;
  for (const auto& [name, t] : nn::module_state(module)) out.push_back(t.contiguous().to_vector<float>());
  return out;
}

TEST(Checkpoint, ResumeGivesBitIdenticalLossesAndParameters) {
  TempDir dir;
  const std::string path = dir.file("run.ckpt.safetensors");

  TrainingRun whole(1, 2);
  std::vector<double> full_losses;
  for (int64_t t = 0; t < 6; ++t) full_losses.push_back(whole.step(t));

  TrainingRun first(1, 2);
  std::vector<double> resumed_losses;
  for (int64_t t = 0; t < 3; ++t) resumed_losses.push_back(first.step(t));
  optim::save_checkpoint(path, first.parts(), info_at(1, 3));

  // Fresh objects with other seeds: everything that matters must come from the file.
  TrainingRun second(77, 88);
  const optim::CheckpointInfo info = optim::load_checkpoint(path, second.parts());
  EXPECT_EQ(info.step, 3);
  EXPECT_EQ(info.epoch, 1);
  EXPECT_EQ(second.optimizer->step_count(), 3);
  for (int64_t t = info.step; t < 6; ++t) resumed_losses.push_back(second.step(t));

  ASSERT_EQ(resumed_losses.size(), full_losses.size());
  for (size_t i = 0; i < full_losses.size(); ++i) EXPECT_EQ(resumed_losses[i], full_losses[i]) << "step " << i;
  EXPECT_EQ(values_of(*second.model), values_of(*whole.model));
  EXPECT_EQ(second.dropout_gen.offset(), whole.dropout_gen.offset());
  // The check can fail: without the checkpoint the fresh run diverges.
  TrainingRun unrestored(77, 88);
  double diff = 0;
  for (int64_t t = 0; t < 3; ++t) unrestored.step(t);
  for (int64_t t = 3; t < 6; ++t) diff += std::fabs(unrestored.step(t) - full_losses[static_cast<size_t>(t)]);
  EXPECT_GT(diff, 0.0);
}

TEST(Checkpoint, EveryPartRoundTripsExactly) {
  TempDir dir;
  const std::string path = dir.file("parts.safetensors");
  TrainingRun a(1, 2);
  for (int64_t t = 0; t < 2; ++t) a.step(t);
  optim::ReduceLrOnPlateau plateau;  // best = +inf before any epoch
  optim::ExponentialMovingAverage ema(*a.model, 0.9);
  ema.update();
  a.dropout_gen.set_state(std::numeric_limits<uint64_t>::max(), (uint64_t{1} << 63) + 1);
  RandomGenerator other(0);
  other.set_state((uint64_t{1} << 53) + 1, 12345678901234567890ull);  // not representable as double
  optim::CheckpointParts parts = a.parts();
  parts.plateau = &plateau;
  parts.ema = &ema;
  parts.generators.emplace_back("loader", &other);
  optim::save_checkpoint(path, parts, {.epoch = -1, .step = std::numeric_limits<int64_t>::max(),
                                       .metadata = {{"run", "eurosat"}, {"best_acc", "0.93"}}});

  TrainingRun b(5, 6);
  optim::ReduceLrOnPlateau plateau_b;
  plateau_b.step(*b.optimizer, 0.5);  // finite best, one epoch: must be overwritten
  optim::ExponentialMovingAverage ema_b(*b.model, 0.9);
  RandomGenerator other_b(3);
  optim::CheckpointParts parts_b = b.parts();
  parts_b.plateau = &plateau_b;
  parts_b.ema = &ema_b;
  parts_b.generators.emplace_back("loader", &other_b);
  const optim::CheckpointInfo info = optim::load_checkpoint(path, parts_b);

  EXPECT_EQ(info.epoch, -1);
  EXPECT_EQ(info.step, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(info.metadata.at("run"), "eurosat");
  EXPECT_EQ(info.metadata.at("best_acc"), "0.93");
  EXPECT_EQ(info.metadata.size(), 2u);
  EXPECT_EQ(b.dropout_gen.seed(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(b.dropout_gen.offset(), (uint64_t{1} << 63) + 1);
  EXPECT_EQ(other_b.seed(), (uint64_t{1} << 53) + 1);
  EXPECT_EQ(other_b.offset(), 12345678901234567890ull);
  EXPECT_EQ(plateau_b.best(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(plateau_b.epochs(), 0);
  EXPECT_EQ(values_of(*b.model), values_of(*a.model));
  // Optimizer: every scalar (lr from the cosine ramp is not a short decimal) and tensor.
  const optim::OptimizerState sa = a.optimizer->state(), sb = b.optimizer->state();
  ASSERT_EQ(sa.scalars.size(), sb.scalars.size());
  for (size_t i = 0; i < sa.scalars.size(); ++i) EXPECT_EQ(sa.scalars[i], sb.scalars[i]);
  EXPECT_EQ(b.optimizer->lr(), a.optimizer->lr());
  ASSERT_EQ(sa.tensors.size(), sb.tensors.size());
  ASSERT_GT(sa.tensors.size(), 0u);
  for (const auto& [name, t] : sa.tensors) {
    const Tensor* u = sb.find_tensor(name);
    ASSERT_NE(u, nullptr) << name;
    EXPECT_EQ(u->contiguous().to_vector<float>(), t.contiguous().to_vector<float>()) << name;
  }
  const optim::OptimizerState ea = ema.state(), eb = ema_b.state();
  ASSERT_EQ(ea.tensors.size(), eb.tensors.size());
  for (size_t i = 0; i < ea.tensors.size(); ++i)
    EXPECT_EQ(eb.tensors[i].second.to_vector<float>(), ea.tensors[i].second.to_vector<float>());
  EXPECT_EQ(ea.scalars, eb.scalars);

  // The file's layout, as documented: prefixed tensors and the JSON document.
  const nn::SafetensorsFile file = nn::read_safetensors(path);
  EXPECT_EQ(file.metadata.at("format"), "ember.checkpoint");
  bool has_model = false, has_optim = false, has_ema = false;
  for (const auto& [name, t] : file.tensors) {
    has_model |= name == "model.0.weight";
    has_optim |= name.rfind("optim.0.", 0) == 0;
    has_ema |= name.rfind("ema.", 0) == 0;
  }
  EXPECT_TRUE(has_model && has_optim && has_ema);
  const std::string doc = file.metadata.at("ember.checkpoint");
  EXPECT_NE(doc.find("\"18446744073709551615\""), std::string::npos) << doc;
  EXPECT_NE(doc.find("\"inf\""), std::string::npos) << doc;
}

TEST(Checkpoint, MismatchesAreNamedAndChangeNothing) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  TrainingRun a(1, 2);
  a.step(0);
  optim::save_checkpoint(path, a.parts(), info_at(0, 1));

  // Another hidden width: the shape is named, and nothing in the target changed.
  TrainingRun wide(5, 6, 9);
  const auto before = values_of(*wide.model);
  expect_error([&] { optim::load_checkpoint(path, wide.parts()); },
               {path, "model tensor '0.weight'", "[8, 4]", "[9, 4]"});
  EXPECT_EQ(values_of(*wide.model), before);
  EXPECT_EQ(wide.optimizer->step_count(), 0);

  // Another optimizer kind.
  TrainingRun b(5, 6);
  optim::SGD sgd(b.model->parameters());
  optim::CheckpointParts with_sgd = b.parts();
  with_sgd.optimizer = &sgd;
  expect_error([&] { optim::load_checkpoint(path, with_sgd); }, {"optimizer is AdamW", "given is SGD"});
  // Parts asked for but not saved.
  optim::ReduceLrOnPlateau plateau;
  plateau.step(*b.optimizer, 1.0);
  optim::CheckpointParts with_plateau = b.parts();
  with_plateau.plateau = &plateau;
  expect_error([&] { optim::load_checkpoint(path, with_plateau); }, {"no plateau scheduler state"});
  optim::CheckpointParts with_loader = b.parts();
  RandomGenerator loader(4);
  with_loader.generators.emplace_back("loader", &loader);
  expect_error([&] { optim::load_checkpoint(path, with_loader); }, {"no generator 'loader'"});
  // A different schedule configuration.
  optim::WarmupCosineLr other_schedule(0.05, 3, 6, 0.001);
  optim::CheckpointParts with_schedule = b.parts();
  with_schedule.schedule = &other_schedule;
  expect_error([&] { optim::load_checkpoint(path, with_schedule); }, {path, "WarmupCosineLr"});
  // None of the failures touched b.
  EXPECT_EQ(b.optimizer->step_count(), 0);
  EXPECT_EQ(plateau.epochs(), 1);
  EXPECT_EQ(loader.seed(), 4u);
  EXPECT_EQ(b.dropout_gen.seed(), 6u);

  // Saved without an optimizer, loaded with one.
  const std::string model_only = dir.file("model_only.safetensors");
  optim::save_checkpoint(model_only, model_only_parts(*a.model));
  expect_error([&] { optim::load_checkpoint(model_only, b.parts()); }, {"no optimizer state"});
  // ...but loading just the model works, and ignores parts it was not asked for.
  optim::load_checkpoint(path, model_only_parts(*b.model));
  EXPECT_EQ(values_of(*b.model), values_of(*a.model));

  // A plain weight file is not a checkpoint.
  const std::string weights = dir.file("weights.safetensors");
  nn::save_module(*a.model, weights);
  expect_error([&] { optim::load_checkpoint(weights, b.parts()); }, {"not an ember checkpoint"});

  // A truncated file, and a damaged JSON document.
  const std::string bytes = read_bytes(path);
  const std::string cut = dir.file("cut.safetensors");
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() - 10);
  expect_error([&] { optim::load_checkpoint(cut, b.parts()); }, {cut});
  nn::SafetensorsFile file = nn::read_safetensors(path);
  file.metadata["ember.checkpoint"] = "{\"version\": 1, \"epoch\": \"x\"";
  const std::string bad_json = dir.file("bad_json.safetensors");
  nn::write_safetensors(bad_json, file.tensors, file.metadata);
  expect_error([&] { optim::load_checkpoint(bad_json, b.parts()); }, {bad_json, "not valid JSON"});
  // An optimizer tensor removed: the optimizer's own check names it.
  nn::NamedTensors fewer;
  for (const auto& [name, t] : nn::read_safetensors(path).tensors)
    if (name != "optim.0.exp_avg") fewer.emplace_back(name, t);
  const std::string missing = dir.file("missing.safetensors");
  nn::write_safetensors(missing, fewer, nn::read_safetensors(path).metadata);
  TrainingRun c(5, 6);
  expect_error([&] { optim::load_checkpoint(missing, c.parts()); }, {missing, "exp_avg"});
  EXPECT_EQ(c.optimizer->step_count(), 0);
  EXPECT_EQ(c.dropout_gen.seed(), 6u);
}

// "nan" is read as NaN (not as a malformed number), and the plateau's own check rejects it after
// the optimizer has been loaded: the optimizer is rolled back to its state before the load.
TEST(Checkpoint, LateFailureRollsBackEarlierParts) {
  TempDir dir;
  const std::string path = dir.file("nan.safetensors");
  TrainingRun a(1, 2);
  a.step(0);
  optim::ReduceLrOnPlateau plateau;
  optim::CheckpointParts parts = a.parts();
  parts.plateau = &plateau;
  optim::save_checkpoint(path, parts, info_at(0, 1));
  nn::SafetensorsFile file = nn::read_safetensors(path);
  std::string& doc = file.metadata.at("ember.checkpoint");
  const size_t at = doc.find("[\"best\",\"inf\"]");
  ASSERT_NE(at, std::string::npos) << doc;
  doc.replace(at, 14, "[\"best\",\"nan\"]");
  nn::write_safetensors(path, file.tensors, file.metadata);

  TrainingRun b(5, 6);
  b.step(0);
  b.step(1);
  const optim::OptimizerState before = b.optimizer->state();
  optim::ReduceLrOnPlateau plateau_b;
  optim::CheckpointParts parts_b = b.parts();
  parts_b.plateau = &plateau_b;
  expect_error([&] { optim::load_checkpoint(path, parts_b); }, {path, "best metric is NaN"});
  EXPECT_EQ(b.optimizer->step_count(), 2);
  const optim::OptimizerState after = b.optimizer->state();
  EXPECT_EQ(after.scalars, before.scalars);
  ASSERT_EQ(after.tensors.size(), before.tensors.size());
  for (size_t i = 0; i < before.tensors.size(); ++i)
    EXPECT_EQ(after.tensors[i].second.to_vector<float>(), before.tensors[i].second.to_vector<float>());
}

TEST(Checkpoint, FailedSaveLeavesTheOldCheckpoint) {
  TempDir dir;
  const std::string path = dir.file("keep.safetensors");
  TrainingRun a(1, 2);
  a.step(0);
  optim::save_checkpoint(path, a.parts(), info_at(0, 1));
  const std::string before = read_bytes(path);
  a.step(1);
  expect_error([&] { optim::save_checkpoint(path, a.parts(), {.metadata = {{"format", "x"}}}); },
               {"'format' is reserved"});
  optim::CheckpointParts null_gen = a.parts();
  null_gen.generators.emplace_back("loader", nullptr);
  expect_error([&] { optim::save_checkpoint(path, null_gen); }, {"generator 'loader' is null"});
  EXPECT_EQ(read_bytes(path), before);
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(dir.path)) {
    ++entries;
    EXPECT_EQ(entry.path().filename(), "keep.safetensors");
  }
  EXPECT_EQ(entries, 1);
  expect_error([&] { optim::save_checkpoint(dir.file("no/such/dir/c.safetensors"), a.parts()); },
               {"no/such/dir/c.safetensors"});
}

}  // namespace
}  // namespace ember
