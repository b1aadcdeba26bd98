// training/classifier_trainer.h on a small CNN and synthetic 8x8 images whose class is their
// colour: it learns; a run stopped after 2 epochs and resumed gives the history and weights of
// an uninterrupted 4-epoch run bit for bit (EMA, plateau schedule and dropout included);
// early stopping; a resume with another configuration is refused; divergence is reported.
// On a GPU (CudaClassifierTrainer): steps replayed from a CUDA graph, and a graphed run stopped
// and resumed, give the eager run's history and weights bit for bit.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <memory>

#include "kernels/backend_settings.h"
#include "nn/layers.h"
#include "nn/safetensors.h"
#include "ops/ops.h"
#include "tests/device_compare.h"
#include "tests/require_cuda_graphs.h"
#include "tests/expect_error.h"
#include "tensor/atomic_file.h"
#include "training/classifier_trainer.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using training::ClassifierTrainOptions;
using training::ClassifierTrainResult;

constexpr int64_t kClasses = 3, kSize = 8;

// conv 3->8 (3x3/2) -> BN -> silu -> dropout -> global pool -> linear 8->3; inputs 0..255,
// uint8 (the trainer's batches) converted here as EfficientNet does.
class TinyNet : public nn::Layer {
 public:
  explicit TinyNet(RandomGenerator& gen) : gen_(gen) {
    conv_ = register_module("conv", std::make_shared<nn::Conv2d>(
                                        3, 8, 3, gen, nn::Conv2dOptions{.stride = 2,
                                                                        .padding = nn::Padding2d::same()}));
    bn_ = register_module("bn", std::make_shared<nn::BatchNorm>(8));
    head_ = register_module("head", std::make_shared<nn::Linear>(8, kClasses, gen));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = silu(bn_->forward(conv_->forward(x.to(DType::Float32) * (1.0 / 255.0))));
    h = dropout(h, 0.1, is_training(), gen_);
    return head_->forward(global_avg_pool(h));
  }

 private:
  RandomGenerator& gen_;
  std::shared_ptr<nn::Conv2d> conv_;
  std::shared_ptr<nn::BatchNorm> bn_;
  std::shared_ptr<nn::Linear> head_;
};

// n images per class: class c is mostly channel c, with noise.
datasets::ImageSet colour_set(int64_t per_class, uint64_t seed) {
  RandomGenerator gen(seed);
  const auto noise = rand_uniform({kClasses * per_class, kSize, kSize, 3}, gen, {}, 0.0, 100.0)
                         .to_vector<float>();
  datasets::ImageSet set;
  std::vector<uint8_t> pixels(noise.size());
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < kClasses * per_class; ++i) {
    const int64_t c = i % kClasses;
    labels.push_back(c);
    for (int64_t p = 0; p < kSize * kSize * 3; ++p) {
      const int64_t k = i * kSize * kSize * 3 + p;
      pixels[k] = static_cast<uint8_t>(noise[k] + (p % 3 == c ? 150 : 0));
    }
    set.files.push_back("img" + std::to_string(i));
  }
  set.images = from_vector(pixels, {kClasses * per_class, kSize, kSize, 3}, {DType::UInt8});
  set.labels = from_vector(labels, {kClasses * per_class}, {DType::Int64});
  set.class_names = {"red", "green", "blue"};
  return set;
}

struct Dir {
  fs::path path;
  explicit Dir(const std::string& name)
      : path(fs::temp_directory_path() / ("ember_trainer_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
  }
  ~Dir() { fs::remove_all(path); }
};

ClassifierTrainOptions base_options(const fs::path& out) {
  ClassifierTrainOptions o;
  o.epochs = 4;
  o.batch_size = 8;
  o.eval_batch_size = 16;
  o.lr = 0.02;
  o.seed = 3;
  o.progress_every = 0;
  o.out_dir = out;
  o.config_key = "test";
  return o;
}

ClassifierTrainResult train(const ClassifierTrainOptions& o, RandomGenerator& gen, TinyNet& model) {
  training::RunLog log;
  return training::train_classifier(model, model.parameters(), gen, colour_set(12, 1),
                                    colour_set(6, 2), o, log);
}

TEST(TrainingTrainer, LearnsAndWritesFiles) {
  Dir dir("learn");
  RandomGenerator gen(0);
  TinyNet model(gen);
  const ClassifierTrainResult r = train(base_options(dir.path), gen, model);
  ASSERT_EQ(r.history.size(), 4u);
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
  EXPECT_GE(r.best_val_accuracy, 0.9);
  EXPECT_TRUE(fs::exists(dir.path / "best.safetensors"));
  EXPECT_TRUE(fs::exists(dir.path / "last.safetensors"));
  const std::string csv = read_file((dir.path / "history.csv").string());
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);  // header + 4 epochs
  // The best file holds the best epoch's model: evaluating it gives the recorded accuracy.
  const auto best = nn::read_safetensors((dir.path / "best.safetensors").string());
  EXPECT_EQ(best.metadata.at("epoch"), std::to_string(r.best_epoch));
}

TEST(TrainingTrainer, ResumeEqualsUninterrupted) {
  Dir a("full"), b("split");
  ClassifierTrainOptions o = base_options(a.path);
  o.schedule = "plateau";
  o.plateau_patience = 0;
  o.ema_decay = 0.9;
  o.augment = true;
  RandomGenerator gen_a(0);
  TinyNet model_a(gen_a);
  const ClassifierTrainResult full = train(o, gen_a, model_a);

  o.out_dir = b.path;
  o.epochs = 2;
  {
    RandomGenerator gen(0);
    TinyNet model(gen);
    train(o, gen, model);
  }
  // A fresh process: new model and generator (their initial values are overwritten).
  o.epochs = 4;
  o.resume = true;
  RandomGenerator gen_b(99);
  TinyNet model_b(gen_b);
  const ClassifierTrainResult resumed = train(o, gen_b, model_b);
  EXPECT_TRUE(resumed.resumed);
  EXPECT_EQ(resumed.resumed_from_epoch, 2);
  ASSERT_EQ(resumed.history.size(), full.history.size());
  for (size_t e = 0; e < full.history.size(); ++e) {
    EXPECT_EQ(resumed.history[e].train_loss, full.history[e].train_loss) << "epoch " << e + 1;
    EXPECT_EQ(resumed.history[e].val_loss, full.history[e].val_loss) << "epoch " << e + 1;
    EXPECT_EQ(resumed.history[e].lr, full.history[e].lr) << "epoch " << e + 1;
  }
  const auto pa = model_a.named_parameters(), pb = model_b.named_parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_EQ(pa[i].second.to_vector<float>(), pb[i].second.to_vector<float>()) << pa[i].first;
  EXPECT_EQ(resumed.best_epoch, full.best_epoch);
}

// uint8 batches (the default) train exactly as float32 batches of the same pixels: the model
// converts them, and every value 0..255 converts exactly.
TEST(TrainingTrainer, Uint8BatchesTrainAsFloat32) {
  Dir a("uint8"), b("float32");
  ClassifierTrainOptions o = base_options(a.path);
  o.epochs = 2;
  o.augment = true;
  EXPECT_EQ(o.pixel_dtype, DType::UInt8);
  RandomGenerator gen_a(0);
  TinyNet model_a(gen_a);
  const ClassifierTrainResult bytes = train(o, gen_a, model_a);
  o.out_dir = b.path;
  o.pixel_dtype = DType::Float32;
  RandomGenerator gen_b(0);
  TinyNet model_b(gen_b);
  const ClassifierTrainResult floats = train(o, gen_b, model_b);
  ASSERT_EQ(bytes.history.size(), floats.history.size());
  for (size_t e = 0; e < bytes.history.size(); ++e) {
    EXPECT_EQ(bytes.history[e].train_loss, floats.history[e].train_loss) << "epoch " << e + 1;
    EXPECT_EQ(bytes.history[e].val_loss, floats.history[e].val_loss) << "epoch " << e + 1;
  }
  const auto pa = model_a.named_parameters(), pb = model_b.named_parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_EQ(pa[i].second.to_vector<float>(), pb[i].second.to_vector<float>()) << pa[i].first;
}

TEST(TrainingTrainer, EarlyStopping) {
  Dir dir("early");
  ClassifierTrainOptions o = base_options(dir.path);
  o.epochs = 10;
  o.lr = 1e-12;  // nothing changes, so validation never improves after epoch 1
  o.optimizer = "sgd";
  o.early_stopping_patience = 2;
  RandomGenerator gen(0);
  TinyNet model(gen);
  const ClassifierTrainResult r = train(o, gen, model);
  EXPECT_TRUE(r.stopped_early);
  EXPECT_LE(r.history.size(), 4u);
  EXPECT_GE(r.history.size(), 3u);
}

// One epoch trained into out; o then resumes it to epoch 2, and before is last.safetensors as
// that epoch left it (a refused resume must leave it so).
struct OneEpochRun {
  explicit OneEpochRun(const fs::path& out) : o(base_options(out)), gen(0), model(gen) {
    o.epochs = 1;
    train(o, gen, model);
    before = read_file((out / "last.safetensors").string());
    o.resume = true;
    o.epochs = 2;
  }
  ClassifierTrainOptions o;
  RandomGenerator gen;
  TinyNet model;
  std::string before;
};

TEST(TrainingTrainer, ResumeWithAnotherConfigurationIsRefused) {
  Dir dir("config");
  OneEpochRun run(dir.path);
  auto& [o, gen, model, before] = run;
  o.config_key = "other";
  EXPECT_ERROR_MENTIONS(train(o, gen, model), "another configuration");
  EXPECT_EQ(read_file((dir.path / "last.safetensors").string()), before);
}

TEST(TrainingTrainer, ResumeOnOtherDataIsRefused) {
  Dir dir("data");
  OneEpochRun run(dir.path);
  auto& [o, gen, model, before] = run;
  // The same images under one other file name (a changed split list), then one fewer image.
  datasets::ImageSet renamed = colour_set(12, 1);
  renamed.files[5] = "elsewhere.jpg";
  training::RunLog log;
  EXPECT_ERROR_MENTIONS(training::train_classifier(model, model.parameters(), gen, renamed,
                                                   colour_set(6, 2), o, log),
                        "trained on other data");
  EXPECT_ERROR_MENTIONS(training::train_classifier(model, model.parameters(), gen,
                                                   colour_set(12, 1), colour_set(5, 2), o, log),
                        "trained on other data");
  EXPECT_EQ(read_file((dir.path / "last.safetensors").string()), before);
  // The same data resumes.
  EXPECT_TRUE(train(o, gen, model).resumed);
}

TEST(TrainingTrainer, DivergenceIsReported) {
  Dir dir("nan");
  ClassifierTrainOptions o = base_options(dir.path);
  o.optimizer = "sgd";
  o.momentum = 0;
  o.lr = 1e30;
  o.progress_every = 1;
  RandomGenerator gen(0);
  TinyNet model(gen);
  EXPECT_ERROR_MENTIONS(train(o, gen, model), "training diverged");
}

// On a GPU, with deterministic algorithms: the same 4 epochs eagerly, with every step after
// the warm-ups replayed from a CUDA graph, and graphed in two sessions (2 epochs, then a resume
// to 4), clipping, dropout, the plateau schedule and the weight average included. Replays must
// redo the same GPU work and keep the host's counts (Adam's steps, the EMA's updates, the
// dropout generator's offset) where eager steps leave them, or the checkpoint would differ.
TEST(CudaClassifierTrainer, GraphedStepsMatchEagerStepsBitForBit) {
  EMBER_REQUIRE_CUDA_GRAPHS();
  kernels::BackendSettingsGuard settings;
  kernels::set_deterministic(true);
  Dir eager_dir("cuda_eager"), graphed_dir("cuda_graphed"), split_dir("cuda_graphed_split");
  ClassifierTrainOptions o = base_options(eager_dir.path);
  o.device = Device::cuda(0);
  o.schedule = "plateau";
  o.plateau_patience = 0;
  o.ema_decay = 0.9;
  o.clip_norm = 0.5;
  o.augment = true;
  const auto run = [&](const ClassifierTrainOptions& options, uint64_t init_seed) {
    RandomGenerator gen(init_seed);
    TinyNet model(gen);
    model.to(options.device);
    const ClassifierTrainResult result = train(options, gen, model);
    std::vector<std::vector<float>> weights;
    for (const auto& [name, p] : model.named_parameters()) weights.push_back(p.to_vector<float>());
    return std::make_pair(result, weights);
  };
  o.cuda_graphs = false;
  const auto [eager, eager_weights] = run(o, 0);
  o.cuda_graphs = true;
  o.out_dir = graphed_dir.path;
  const auto [graphed, graphed_weights] = run(o, 0);
  o.out_dir = split_dir.path;
  o.epochs = 2;
  run(o, 0);
  o.epochs = 4;
  o.resume = true;
  const auto [resumed, resumed_weights] = run(o, 99);
  ASSERT_EQ(graphed.history.size(), eager.history.size());
  ASSERT_EQ(resumed.history.size(), eager.history.size());
  for (size_t e = 0; e < eager.history.size(); ++e) {
    for (const ClassifierTrainResult* r : {&graphed, &resumed}) {
      EXPECT_EQ(r->history[e].train_loss, eager.history[e].train_loss) << "epoch " << e + 1;
      EXPECT_EQ(r->history[e].train_accuracy, eager.history[e].train_accuracy) << "epoch " << e + 1;
      EXPECT_EQ(r->history[e].val_loss, eager.history[e].val_loss) << "epoch " << e + 1;
      EXPECT_EQ(r->history[e].lr, eager.history[e].lr) << "epoch " << e + 1;
    }
  }
  EXPECT_EQ(graphed_weights, eager_weights);
  EXPECT_EQ(resumed_weights, eager_weights);
}

}  // namespace
}  // namespace ember
