// Learning-rate schedules (optim/schedule.h): each schedule's values at chosen epochs against
// hand computations, ReduceLrOnPlateau's logic epoch by epoch (patience, threshold, cooldown,
// min_lr, max mode), and save/load with its mismatch errors.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "ops/ops.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using namespace optim;

Tensor param() {
  return from_vector<double>({1.0}, {1}, {.dtype = DType::Float64, .requires_grad = true});
}

TEST(LrSchedule, ConstantIsConstant) {
  ConstantLr s(0.05);
  for (int64_t t : {0, 1, 100}) EXPECT_EQ(s.lr_at(t), 0.05);
}

TEST(LrSchedule, StepDecayAtChosenEpochs) {
  StepLr s(0.1, 3, 0.5);  // 0.1 for epochs 0-2, 0.05 for 3-5, 0.025 for 6-8, ...
  const std::vector<std::pair<int64_t, double>> want = {
      {0, 0.1}, {2, 0.1}, {3, 0.05}, {5, 0.05}, {6, 0.025}, {9, 0.0125}};
  for (const auto& [t, lr] : want) EXPECT_DOUBLE_EQ(s.lr_at(t), lr) << "epoch " << t;
}

TEST(LrSchedule, WarmupCosineAtChosenEpochs) {
  // base 0.1, 3 warm-up epochs, total 10, min 0.001:
  // warm-up 0.1 * (t + 1) / 4 = 0.025, 0.05, 0.075; then 0.001 + 0.099 * (1 + cos(pi q)) / 2
  // with q = (t - 3) / 7: t = 3 -> 0.1, t = 4 -> 0.001 + 0.0495 (1 + cos(pi/7)), t = 10 -> min.
  WarmupCosineLr s(0.1, 3, 10, 0.001);
  const double pi = std::numbers::pi;
  const std::vector<std::pair<int64_t, double>> want = {
      {0, 0.025}, {1, 0.05}, {2, 0.075}, {3, 0.1},
      {4, 0.001 + 0.0495 * (1 + std::cos(pi / 7))},  // 0.09509795896116975
      {5, 0.08136274519200731},
      {7, 0.03948521376916244},
      {9, 0.005902041038830258},
      {10, 0.001}, {12, 0.001}};
  for (const auto& [t, lr] : want) EXPECT_NEAR(s.lr_at(t), lr, 1e-14) << "epoch " << t;
  // Half-way through the cosine (q = 1/2) the rate is the mean of base and min.
  WarmupCosineLr plain(0.2, 0, 4, 0.0);
  EXPECT_NEAR(plain.lr_at(2), 0.1, 1e-15);
  EXPECT_NEAR(plain.lr_at(0), 0.2, 1e-15);
}

TEST(LrSchedule, ApplySetsTheOptimizerRate) {
  SGD sgd({param()}, {.lr = 1.0});
  StepLr s(0.1, 2, 0.1);
  EXPECT_DOUBLE_EQ(s.apply(sgd, 2), 0.01);
  EXPECT_DOUBLE_EQ(sgd.lr(), 0.01);
}

TEST(LrSchedule, RejectsBadConfigurations) {
  EXPECT_ERROR_MENTIONS(StepLr(0.1, 0), "step_size");
  EXPECT_ERROR_MENTIONS(WarmupCosineLr(0.1, 5, 5), "must exceed warmup");
  EXPECT_ERROR_MENTIONS(WarmupCosineLr(0.1, 0, 5, 0.2), "min_lr");
  EXPECT_ERROR_MENTIONS(ConstantLr(-1.0), "lr must be >= 0");
  EXPECT_ERROR_MENTIONS(StepLr(0.1, 2).lr_at(-1), "t must be >= 0");
}

TEST(LrSchedule, SaveLoadChecksTheConfiguration) {
  const WarmupCosineLr s(0.1, 3, 10, 0.001);
  const OptimizerState st = s.state();
  EXPECT_NO_THROW(WarmupCosineLr(0.1, 3, 10, 0.001).load_state(st));
  EXPECT_ERROR_MENTIONS(WarmupCosineLr(0.1, 3, 20, 0.001).load_state(st), "total = 10");
  EXPECT_ERROR_MENTIONS(StepLr(0.1, 3).load_state(st), "StepLr: unexpected state scalar");
  EXPECT_ERROR_MENTIONS(StepLr(0.1, 3).load_state(OptimizerState{}), "no scalar 'base_lr'");
}

TEST(ReduceLrOnPlateau, ReducesAfterPatienceBadEpochs) {
  SGD sgd({param()}, {.lr = 1.0});
  ReduceLrOnPlateau plateau({.factor = 0.5, .patience = 2});
  // Losses: 1.0 (best), 0.9 (best), then 0.95, 0.9, 0.91: three epochs not better than 0.9
  // (0.9 is not < 0.9 * (1 - 1e-4)). The third exceeds patience 2: lr 1 -> 0.5.
  const std::vector<double> losses = {1.0, 0.9, 0.95, 0.9, 0.91};
  const std::vector<bool> reduced = {false, false, false, false, true};
  const std::vector<int64_t> bad = {0, 0, 1, 2, 0};
  for (size_t e = 0; e < losses.size(); ++e) {
    EXPECT_EQ(plateau.step(sgd, losses[e]), reduced[e]) << "epoch " << e;
    EXPECT_EQ(plateau.num_bad_epochs(), bad[e]) << "epoch " << e;
  }
  EXPECT_DOUBLE_EQ(sgd.lr(), 0.5);
  EXPECT_DOUBLE_EQ(plateau.best(), 0.9);
  // An improvement resets the count; three more bad epochs reduce again.
  EXPECT_FALSE(plateau.step(sgd, 0.5));
  EXPECT_FALSE(plateau.step(sgd, 0.6));
  EXPECT_FALSE(plateau.step(sgd, 0.6));
  EXPECT_TRUE(plateau.step(sgd, 0.6));
  EXPECT_DOUBLE_EQ(sgd.lr(), 0.25);
  EXPECT_EQ(plateau.epochs(), 9);
}

TEST(ReduceLrOnPlateau, RelativeAndAbsoluteThresholds) {
  SGD sgd({param()}, {.lr = 1.0});
  // rel 0.1: after best 1.0, 0.95 is not better (needs < 0.9); patience 0 reduces at once.
  ReduceLrOnPlateau rel({.factor = 0.5, .patience = 0, .threshold = 0.1});
  rel.step(sgd, 1.0);
  EXPECT_TRUE(rel.step(sgd, 0.95));
  EXPECT_DOUBLE_EQ(rel.best(), 1.0);
  // abs 0.01: 0.985 < 1.0 - 0.01 is better.
  ReduceLrOnPlateau abs_mode({.factor = 0.5, .patience = 0, .threshold = 0.01,
                              .threshold_mode = PlateauOptions::ThresholdMode::Abs});
  abs_mode.step(sgd, 1.0);
  EXPECT_FALSE(abs_mode.step(sgd, 0.985));
  EXPECT_DOUBLE_EQ(abs_mode.best(), 0.985);
  EXPECT_TRUE(abs_mode.step(sgd, 0.98));  // only 0.005 better
}

TEST(ReduceLrOnPlateau, MaxModeCooldownAndMinLr) {
  SGD sgd({param()}, {.lr = 1.0});
  ReduceLrOnPlateau plateau({.mode = PlateauOptions::Mode::Max, .factor = 0.1, .patience = 0,
                             .cooldown = 2, .min_lr = 0.05});
  EXPECT_FALSE(plateau.step(sgd, 0.5));  // accuracy 0.5: best
  EXPECT_TRUE(plateau.step(sgd, 0.4));   // worse: lr 1 -> 0.1, cooldown 2
  EXPECT_DOUBLE_EQ(sgd.lr(), 0.1);
  EXPECT_EQ(plateau.cooldown_counter(), 2);
  EXPECT_FALSE(plateau.step(sgd, 0.4));  // cooldown: bad epochs not counted
  EXPECT_FALSE(plateau.step(sgd, 0.4));
  EXPECT_EQ(plateau.cooldown_counter(), 0);
  EXPECT_TRUE(plateau.step(sgd, 0.4));  // 0.1 * 0.1 = 0.01, floored at min_lr 0.05
  EXPECT_DOUBLE_EQ(sgd.lr(), 0.05);
  for (int e = 0; e < 6; ++e) EXPECT_FALSE(plateau.step(sgd, 0.4)) << "already at min_lr";
  EXPECT_DOUBLE_EQ(sgd.lr(), 0.05);
  EXPECT_FALSE(plateau.step(sgd, 0.6));
  EXPECT_DOUBLE_EQ(plateau.best(), 0.6);
}

TEST(ReduceLrOnPlateau, SaveLoadResumesTheCounters) {
  const PlateauOptions options{.factor = 0.5, .patience = 2};
  const std::vector<double> losses = {1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0, 1.1};
  SGD a_opt({param()}, {.lr = 1.0});
  ReduceLrOnPlateau a(options);
  std::vector<double> a_lrs;
  for (double l : losses) {
    a.step(a_opt, l);
    a_lrs.push_back(a_opt.lr());
  }
  SGD b_opt({param()}, {.lr = 1.0});
  ReduceLrOnPlateau b(options);
  for (size_t e = 0; e < 3; ++e) b.step(b_opt, losses[e]);
  const OptimizerState saved = b.state();
  SGD c_opt({param()}, {.lr = b_opt.lr()});
  ReduceLrOnPlateau c(options);
  c.load_state(saved);
  EXPECT_EQ(c.num_bad_epochs(), 1);
  EXPECT_DOUBLE_EQ(c.best(), 0.9);
  for (size_t e = 3; e < losses.size(); ++e) {
    c.step(c_opt, losses[e]);
    EXPECT_EQ(c_opt.lr(), a_lrs[e]) << "epoch " << e;
  }
  EXPECT_ERROR_MENTIONS(ReduceLrOnPlateau({.factor = 0.5, .patience = 3}).load_state(saved), "patience = 2");
  OptimizerState broken = saved;
  broken.scalars.pop_back();
  EXPECT_ERROR_MENTIONS(ReduceLrOnPlateau(options).load_state(broken), "no scalar 'epochs'");
}

TEST(ReduceLrOnPlateau, RejectsBadOptions) {
  EXPECT_ERROR_MENTIONS(ReduceLrOnPlateau({.factor = 1.0}), "factor");
  EXPECT_ERROR_MENTIONS(ReduceLrOnPlateau({.patience = -1}), "patience");
  SGD sgd({param()}, {.lr = 1.0});
  ReduceLrOnPlateau plateau;
  EXPECT_ERROR_MENTIONS(plateau.step(sgd, std::nan("")), "NaN");
}

}  // namespace
}  // namespace ember
