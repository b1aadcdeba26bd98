// Evaluation of a classifier on an ImageSet: every image once, in order, in inference mode
// (model.eval() and no autograd; the model's training flag is restored afterwards). The logits
// come to the host per batch and everything else is computed there in double: the mean
// cross-entropy, the arg-max predictions, the softmax confidence of each prediction and the
// confusion matrix. Also used to filter generated images (prediction == intended class).
// Tested in tests/test_training_evaluate.cpp with a model whose logits are known.
#pragma once
#include <cstdint>
#include <vector>

#include "datasets/image_set.h"
#include "nn/module.h"
#include "training/metrics.h"

namespace ember::training {

struct EvalOptions {
  int64_t batch_size = 128;
  Device device = Device::cpu();  // where the model lives; batches are sent there
  // How the batches hold their pixels (datasets::LoaderOptions::pixel_dtype): uint8, a quarter
  // of the bytes to upload, for models that convert inside (EfficientNet); float32 for others.
  DType pixel_dtype = DType::UInt8;
};

struct EvalResult {
  double loss = 0;                   // mean cross-entropy over the set (unweighted)
  ConfusionMatrix confusion;
  std::vector<int64_t> predictions;  // arg-max class per image (lowest index on ties)
  std::vector<double> confidence;    // softmax probability of the predicted class
  std::vector<double> true_class_probability;
  double seconds = 0;
  double images_per_second = 0;
};

// `model` maps [B, H, W, C] images (0..255, options.pixel_dtype) to logits [B, classes],
// classes == set.class_names.size().
EvalResult evaluate_classifier(nn::Layer& model, const datasets::ImageSet& set,
                               const EvalOptions& options = {});

}  // namespace ember::training
