// gan/trainer.h on tiny networks and synthetic 16x16 images (3 classes, each a colour
// with noise): the losses are finite and logged (losses.csv, the history), the sample grids
// and generator.safetensors are written with the promised sizes and metadata; a run stopped
// after 2 epochs and resumed gives the history, the grid and the generator of an uninterrupted
// 3-epoch run bit for bit (WGAN-GP with EMA, and BCE with the balanced sampler); a loss above
// the explosion threshold stops the run naming the epoch and leaves the last checkpoint
// byte-identical; a resume with another configuration is refused. On a GPU (CudaGanTrainer):
// critic and generator steps replayed from CUDA graphs give the eager run bit for bit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "datasets/image_io.h"
#include "kernels/backend_settings.h"
#include "gan/networks_io.h"
#include "nn/safetensors.h"
#include "ops/random.h"
#include "tensor/atomic_file.h"
#include "tests/device_compare.h"
#include "tests/require_cuda_graphs.h"
#include "tests/expect_error.h"
#include "gan/trainer.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using training::GanTrainOptions;
using training::GanTrainResult;

constexpr int64_t kClasses = 3, kSize = 16;

// 12 images per class, except class 2 with 4 (so the balanced sampler has work): class c is a
// base colour plus uniform noise.
datasets::ImageSet synthetic_set() {
  const int64_t counts[kClasses] = {12, 12, 4};
  const uint8_t colours[kClasses][3] = {{200, 40, 40}, {40, 180, 60}, {50, 60, 210}};
  RandomGenerator gen(123);
  datasets::ImageSet set;
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (int64_t c = 0; c < kClasses; ++c) {
    for (int64_t i = 0; i < counts[c]; ++i) {
      const std::vector<float> noise =
          rand_uniform({kSize * kSize * 3}, gen, {}, -30.0, 30.0).to_vector<float>();
      for (int64_t k = 0; k < kSize * kSize * 3; ++k)
        pixels.push_back(static_cast<uint8_t>(
            std::clamp(colours[c][k % 3] + noise[static_cast<size_t>(k)], 0.0f, 255.0f)));
      labels.push_back(c);
      set.files.push_back(std::string("c") + std::to_string(c) + "_" + std::to_string(i) + ".png");
    }
  }
  const int64_t n = static_cast<int64_t>(labels.size());
  set.images = from_vector(pixels, {n, kSize, kSize, 3}, {.dtype = DType::UInt8});
  set.labels = from_vector(labels, {n}, {.dtype = DType::Int64});
  set.class_names = {"red", "green", "blue"};
  return set;
}

struct TempDir {
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() /
             (std::string("ember_gan_trainer_") + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path path;
};

GanTrainOptions tiny_options(const fs::path& out, const std::string& loss = "wgan-gp") {
  GanTrainOptions o;
  o.loss = loss;
  training::apply_gan_loss_defaults(o);
  o.n_critic = 2;
  o.epochs = 3;
  o.batch_size = 8;
  o.seed = 5;
  o.sample_cols = 4;
  o.progress_every = 0;
  o.out_dir = out;
  o.config_key = std::string("tiny-") + loss;
  o.generator.num_classes = kClasses;
  o.generator.latent_dim = 8;
  o.generator.embedding_dim = 4;
  o.generator.base_channels = 8;
  o.generator.stage_filters = {8, 4};
  o.generator.image_size = kSize;
  o.critic.num_classes = kClasses;
  o.critic.image_size = kSize;
  o.critic.filters = {4, 8};
  o.critic.layer_norm = true;
  return o;
}

void expect_same_tensors(const fs::path& a, const fs::path& b) {
  const nn::SafetensorsFile fa = nn::read_safetensors(a.string());
  const nn::SafetensorsFile fb = nn::read_safetensors(b.string());
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
  for (size_t i = 0; i < fa.tensors.size(); ++i) {
    ASSERT_EQ(fa.tensors[i].first, fb.tensors[i].first);
    EXPECT_EQ(fa.tensors[i].second.to_vector<float>(), fb.tensors[i].second.to_vector<float>())
        << fa.tensors[i].first;
  }
}

void expect_same_history(const GanTrainResult& a, const GanTrainResult& b) {
  ASSERT_EQ(a.history.size(), b.history.size());
  for (size_t i = 0; i < a.history.size(); ++i) {
    const auto &x = a.history[i], &y = b.history[i];
    EXPECT_EQ(x.epoch, y.epoch);
    // Exact: the same seed and state must give the same bits.
    EXPECT_EQ(x.d_loss, y.d_loss) << "epoch " << x.epoch;
    EXPECT_EQ(x.g_loss, y.g_loss) << "epoch " << x.epoch;
    EXPECT_EQ(x.wasserstein, y.wasserstein);
    EXPECT_EQ(x.penalty, y.penalty);
    EXPECT_EQ(x.d_steps, y.d_steps);
    EXPECT_EQ(x.g_steps, y.g_steps);
  }
}

TEST(GanTrainer, LogsFiniteLossesAndWritesGridsAndGenerator) {
  const datasets::ImageSet set = synthetic_set();
  TempDir dir("basic");
  GanTrainOptions o = tiny_options(dir.path);
  o.epochs = 2;
  o.ema_decay = 0.9;
  fs::create_directories(dir.path);
  training::RunLog log(dir.path / "train.log");
  const GanTrainResult r = training::train_gan(set, o, log);
  ASSERT_EQ(r.history.size(), 2u);
  for (const auto& e : r.history) {
    EXPECT_TRUE(std::isfinite(e.d_loss) && std::isfinite(e.g_loss) &&
                std::isfinite(e.wasserstein) && std::isfinite(e.penalty));
    EXPECT_GT(e.penalty, 0.0);
    // 28 images, batches of 8, last dropped: 3 critic steps; n_critic 2 over the run: steps
    // 2 (epoch 1) and 4, 6 (epoch 2).
    EXPECT_EQ(e.d_steps, 3);
    // The WGAN-GP critic loss is D(fake) - D(real) + 10 GP.
    EXPECT_NEAR(e.d_loss, e.d_fake - e.d_real + 10 * e.penalty, 1e-4 * (1 + std::abs(e.d_loss)));
  }
  EXPECT_EQ(r.history[0].g_steps, 1);
  EXPECT_EQ(r.history[1].g_steps, 2);
  const std::string csv = read_file((dir.path / "losses.csv").string());
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  EXPECT_EQ(csv.rfind("epoch,d_loss,g_loss,wasserstein,penalty", 0), 0u);
  // Grids: 3 rows of 16 plus 2 gaps of 2 = 52 high; 4 columns: 4*16 + 3*2 = 70 wide.
  for (const char* name : {"epoch_0001.png", "epoch_0002.png"}) {
    EXPECT_EQ(datasets::decode_image(dir.path / "samples" / name, 52, 70, 3).size(),
              52u * 70u * 3u);
  }
  const models::LoadedGenerator g = models::load_generator_file(r.generator_path.string());
  EXPECT_EQ(g.generator->config().image_size, kSize);
  EXPECT_EQ(g.metadata.at("ema"), "1");
  EXPECT_EQ(g.metadata.at("ema_warmup"), "1");
  EXPECT_EQ(g.metadata.at("loss"), "wgan-gp");
  EXPECT_EQ(g.metadata.at("generator_steps"), "3");
  EXPECT_TRUE(fs::exists(dir.path / "checkpoint.json"));
  EXPECT_GT(r.generator_parameters, 0);
  EXPECT_GT(r.critic_parameters, 0);
}

// Runs `o` uninterrupted and as 2 epochs + a resume to 3; everything must match bit for bit.
void check_resume_is_bit_identical(GanTrainOptions o, const std::string& name) {
  const datasets::ImageSet set = synthetic_set();
  TempDir whole(name + "_whole"), parts(name + "_parts");
  training::RunLog log;
  o.out_dir = whole.path;
  const GanTrainResult a = training::train_gan(set, o, log);

  o.out_dir = parts.path;
  o.epochs = 2;
  training::train_gan(set, o, log);
  o.epochs = 3;
  o.resume = true;
  const GanTrainResult b = training::train_gan(set, o, log);
  EXPECT_TRUE(b.resumed);
  EXPECT_EQ(b.resumed_from_epoch, 2);
  expect_same_history(a, b);
  expect_same_tensors(whole.path / "generator.safetensors", parts.path / "generator.safetensors");
  expect_same_tensors(whole.path / "checkpoint_b" / "critic.safetensors",
                      parts.path / "checkpoint_b" / "critic.safetensors");
  EXPECT_EQ(read_file((whole.path / "samples" / "epoch_0003.png").string()),
            read_file((parts.path / "samples" / "epoch_0003.png").string()));
}

TEST(GanTrainer, ResumeIsBitIdenticalWganGpWithEma) {
  GanTrainOptions o = tiny_options({});
  o.ema_decay = 0.8;
  check_resume_is_bit_identical(o, "wgan");
}

TEST(GanTrainer, ResumeIsBitIdenticalBceBalanced) {
  GanTrainOptions o = tiny_options({}, "bce");
  o.balanced = true;
  check_resume_is_bit_identical(o, "bce");
}

TEST(GanTrainer, ExplodingLossStopsAndKeepsTheLastCheckpoint) {
  const datasets::ImageSet set = synthetic_set();
  TempDir dir("explode");
  GanTrainOptions o = tiny_options(dir.path);
  o.epochs = 1;
  training::RunLog log;
  training::train_gan(set, o, log);
  const std::vector<fs::path> kept = {
      dir.path / "checkpoint.json", dir.path / "checkpoint_a" / "generator.safetensors",
      dir.path / "checkpoint_a" / "critic.safetensors", dir.path / "losses.csv"};
  std::vector<std::string> before;
  for (const fs::path& p : kept) before.push_back(read_file(p.string()));

  // Continue with a threshold no real loss stays under: the first critic step of epoch 2 stops.
  o.epochs = 3;
  o.resume = true;
  o.explode_threshold = 1e-12;
  testing::expect_error(
      [&] { training::train_gan(set, o, log); },
      {"training diverged", "critic loss", "at epoch 2, batch 1", "checkpoint_a", "(untouched)"});
  for (size_t i = 0; i < kept.size(); ++i)
    EXPECT_EQ(read_file(kept[i].string()), before[i]) << kept[i];
  // And the run resumes from there once the threshold is sane again.
  o.explode_threshold = 1e6;
  o.epochs = 2;
  const GanTrainResult r = training::train_gan(set, o, log);
  EXPECT_EQ(r.resumed_from_epoch, 1);
  EXPECT_EQ(r.history.size(), 2u);
}

// Trains one epoch of set into out and returns the options that resume it to epoch 2.
GanTrainOptions one_epoch_to_resume(const datasets::ImageSet& set, const fs::path& out) {
  GanTrainOptions o = tiny_options(out);
  o.epochs = 1;
  training::RunLog log;
  training::train_gan(set, o, log);
  o.resume = true;
  o.epochs = 2;
  return o;
}

TEST(GanTrainer, RefusesToResumeAnotherConfiguration) {
  const datasets::ImageSet set = synthetic_set();
  TempDir dir("config");
  GanTrainOptions o = one_epoch_to_resume(set, dir.path);
  training::RunLog log;
  o.config_key = "something else";
  testing::expect_error([&] { training::train_gan(set, o, log); },
                        {"another configuration", "tiny-wgan-gp", "something else"});
}

TEST(GanTrainer, RefusesToResumeOnOtherData) {
  const datasets::ImageSet set = synthetic_set();
  TempDir dir("data");
  const GanTrainOptions o = one_epoch_to_resume(set, dir.path);
  training::RunLog log;
  datasets::ImageSet relabelled = set;
  relabelled.labels = set.labels.clone();
  std::vector<int64_t> labels = set.labels.to_vector<int64_t>();
  labels[0] = (labels[0] + 1) % static_cast<int64_t>(set.class_names.size());
  relabelled.labels = from_vector(labels, set.labels.shape(), {.dtype = DType::Int64});
  testing::expect_error([&] { training::train_gan(relabelled, o, log); },
                        {"trained on other data", "its:", "this:"});
  EXPECT_TRUE(training::train_gan(set, o, log).resumed);
}

TEST(GanTrainer, RejectsMismatchedImages) {
  const datasets::ImageSet set = synthetic_set();
  TempDir dir("mismatch");
  GanTrainOptions o = tiny_options(dir.path);
  o.generator.stage_filters = {8, 4, 4};
  o.generator.image_size = 32;
  o.critic.image_size = 32;
  training::RunLog log;
  testing::expect_error([&] { training::train_gan(set, o, log); },
                        {"training images are", "generator makes 32x32x3"});
}

// On a GPU, with deterministic algorithms: the critic steps (noise, fakes, the gradient
// penalty's double backward, Adam) and the generator steps (Adam, the EMA) replayed from their
// CUDA graphs give the eager run's losses, generator and critic bit for bit.
TEST(CudaGanTrainer, GraphedStepsMatchEagerStepsBitForBit) {
  EMBER_REQUIRE_CUDA_GRAPHS();
  kernels::BackendSettingsGuard settings;
  kernels::set_deterministic(true);
  const datasets::ImageSet set = synthetic_set();
  TempDir eager_dir("cuda_eager"), graphed_dir("cuda_graphed");
  training::RunLog log;
  GanTrainOptions o = tiny_options(eager_dir.path);
  o.device = Device::cuda(0);
  o.ema_decay = 0.9;
  o.epochs = 4;  // 12 critic steps, 6 generator steps: several replays of each graph
  o.cuda_graphs = false;
  const GanTrainResult eager = training::train_gan(set, o, log);
  o.out_dir = graphed_dir.path;
  o.cuda_graphs = true;
  const GanTrainResult graphed = training::train_gan(set, o, log);
  expect_same_history(eager, graphed);
  expect_same_tensors(eager_dir.path / "generator.safetensors",
                      graphed_dir.path / "generator.safetensors");
  expect_same_tensors(eager_dir.path / "checkpoint_b" / "critic.safetensors",
                      graphed_dir.path / "checkpoint_b" / "critic.safetensors");
}

}  // namespace
}  // namespace ember
