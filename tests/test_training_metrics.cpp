// training/metrics.h: a confusion matrix filled by hand and every figure read off it compared
// with the counts worked out below; training/evaluate.h on a model whose logits are known.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/expect_error.h"
#include "training/evaluate.h"
#include "training/metrics.h"

namespace ember {
namespace {

using training::ConfusionMatrix;

// 3 classes. True a: 3 samples (2 right, 1 as b); b: 2 (both as c); c: 1 (right).
ConfusionMatrix example() {
  ConfusionMatrix cm({"a", "b", "c"});
  cm.add({0, 0, 0, 1, 1, 2}, {0, 0, 1, 2, 2, 2});
  return cm;
}

TEST(TrainingMetrics, CountsAndAccuracies) {
  const ConfusionMatrix cm = example();
  EXPECT_EQ(cm.total(), 6);
  EXPECT_EQ(cm.count(0, 0), 2);
  EXPECT_EQ(cm.count(0, 1), 1);
  EXPECT_EQ(cm.count(1, 2), 2);
  EXPECT_EQ(cm.count(2, 2), 1);
  EXPECT_EQ(cm.class_total(1), 2);
  EXPECT_DOUBLE_EQ(cm.accuracy(), 3.0 / 6.0);
  EXPECT_DOUBLE_EQ(cm.class_accuracy(0), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(cm.class_accuracy(1), 0.0);
  EXPECT_DOUBLE_EQ(cm.class_accuracy(2), 1.0);
  // Pooled over a and c: (2 + 1) / (3 + 1); the unweighted mean is (2/3 + 1) / 2.
  EXPECT_DOUBLE_EQ(cm.group_accuracy({"a", "c"}), 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(cm.mean_class_accuracy({"a", "c"}), (2.0 / 3.0 + 1.0) / 2.0);
}

TEST(TrainingMetrics, EmptyClassHasNoAccuracy) {
  ConfusionMatrix cm({"a", "b"});
  cm.add(0, 0);
  EXPECT_TRUE(std::isnan(cm.class_accuracy(1)));
  EXPECT_TRUE(cm.to_json()["per_class_accuracy"]["b"].is_null());
}

TEST(TrainingMetrics, Json) {
  const nlohmann::json j = example().to_json();
  EXPECT_EQ(j["classes"], nlohmann::json({"a", "b", "c"}));
  EXPECT_EQ(j["matrix"], nlohmann::json({{2, 1, 0}, {0, 0, 2}, {0, 0, 1}}));
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["per_class_accuracy"]["a"].get<double>(), 2.0 / 3.0);
  EXPECT_NE(example().to_text().find("0.6667"), std::string::npos);
}

TEST(TrainingMetrics, BadInput) {
  ConfusionMatrix cm({"a", "b"});
  EXPECT_ERROR_MENTIONS(cm.add(2, 0), "true class 2");
  EXPECT_ERROR_MENTIONS(cm.add(0, -1), "predicted class -1");
  EXPECT_ERROR_MENTIONS(cm.add({0}, {0, 1}), "1 labels but 2 predictions");
  EXPECT_ERROR_MENTIONS(cm.group_accuracy({"z"}), "unknown class 'z'");
}

// Logits = the first 3 channels of pixel (0, 0): the test chooses every logit.
class PixelLogits : public nn::Layer {
 public:
  Tensor forward(const Tensor& x) override {
    const auto v = x.to_vector<float>();
    const int64_t n = x.shape()[0], per = x.numel() / n;
    std::vector<float> out;
    for (int64_t i = 0; i < n; ++i)
      for (int c = 0; c < 3; ++c) out.push_back(v[i * per + c]);
    return from_vector(out, {n, 3});
  }
};

TEST(TrainingEvaluate, LossPredictionsConfidence) {
  // Image i's pixel (0,0) holds its logits; labels 0, 1, 2, 1.
  const std::vector<std::vector<uint8_t>> logits = {{5, 1, 1}, {2, 2, 0}, {0, 3, 1}, {0, 0, 4}};
  std::vector<uint8_t> pixels;
  for (const auto& l : logits) {
    pixels.insert(pixels.end(), l.begin(), l.end());
    pixels.insert(pixels.end(), 3, 0);  // a second pixel, ignored
  }
  datasets::ImageSet set;
  set.images = from_vector(pixels, {4, 1, 2, 3}, {DType::UInt8});
  set.labels = from_vector(std::vector<int64_t>{0, 1, 2, 1}, {4}, {DType::Int64});
  set.files = {"f0", "f1", "f2", "f3"};
  set.class_names = {"a", "b", "c"};
  PixelLogits model;
  model.train();
  const training::EvalResult r = training::evaluate_classifier(model, set, {.batch_size = 3});
  EXPECT_TRUE(model.is_training());  // restored
  // Ties go to the lowest index (image 1: 2, 2, 0 -> class 0).
  EXPECT_EQ(r.predictions, (std::vector<int64_t>{0, 0, 1, 2}));
  double loss = 0;
  std::vector<double> confidence;
  const std::vector<int64_t> labels = {0, 1, 2, 1};
  for (size_t i = 0; i < logits.size(); ++i) {
    double z = 0, zmax = 0;
    for (uint8_t v : logits[i]) z += std::exp(double(v)), zmax = std::max(zmax, double(v));
    loss += std::log(z) - logits[i][labels[i]];
    confidence.push_back(std::exp(zmax) / z);
  }
  EXPECT_NEAR(r.loss, loss / 4, 1e-12);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(r.confidence[i], confidence[i], 1e-12);
  EXPECT_NEAR(r.true_class_probability[2], std::exp(1.0) / (1 + std::exp(3.0) + std::exp(1.0)),
              1e-12);
  EXPECT_EQ(r.confusion.count(1, 0), 1);
  EXPECT_EQ(r.confusion.count(1, 2), 1);
  EXPECT_DOUBLE_EQ(r.confusion.accuracy(), 0.25);
}

}  // namespace
}  // namespace ember
