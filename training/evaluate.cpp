// Classifier evaluation (see evaluate.h).
#include "training/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "autograd/grad_mode.h"
#include "datasets/loader.h"
#include "tensor/error.h"

namespace ember::training {

EvalResult evaluate_classifier(nn::Layer& model, const datasets::ImageSet& set,
                               const EvalOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t classes = static_cast<int64_t>(set.class_names.size());
  EvalResult result{0.0, ConfusionMatrix(set.class_names), {}, {}, {}, 0.0, 0.0};
  result.predictions.reserve(set.size());
  result.confidence.reserve(set.size());
  result.true_class_probability.reserve(set.size());

  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  datasets::Loader loader(set, {.batch_size = options.batch_size,
                                .shuffle = false,
                                .prefetch = 1,
                                .device = options.device,
                                .pixel_dtype = options.pixel_dtype});
  loader.start_epoch(0);
  double loss_sum = 0;
  try {
    while (std::optional<datasets::Batch> batch = loader.next()) {
      const Tensor logits = model(batch->images);
      const int64_t b = static_cast<int64_t>(batch->indices.size());
      EMBER_CHECK(logits.shape() == Shape({b, classes}), "evaluate_classifier: the model gave ",
                  logits.describe(), " for a batch of ", b, " images of ", classes, " classes");
      const std::vector<double> host = logits.to_vector<double>();
      const std::vector<int64_t> labels = batch->labels.to_vector<int64_t>();
      for (int64_t i = 0; i < b; ++i) {
        const double* row = host.data() + i * classes;
        const int64_t best = std::max_element(row, row + classes) - row;  // first maximum
        EMBER_CHECK(std::isfinite(row[best]), "evaluate_classifier: non-finite logits for ",
                    set.files.empty() ? "image" : set.files[batch->indices[i]], " (row ",
                    batch->indices[i], ")");
        double sum = 0;
        for (int64_t c = 0; c < classes; ++c) sum += std::exp(row[c] - row[best]);
        const double log_sum = row[best] + std::log(sum);
        loss_sum += log_sum - row[labels[i]];
        result.predictions.push_back(best);
        result.confidence.push_back(1.0 / sum);
        result.true_class_probability.push_back(std::exp(row[labels[i]] - log_sum));
        result.confusion.add(labels[i], best);
      }
    }
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  result.loss = set.size() > 0 ? loss_sum / static_cast<double>(set.size()) : 0.0;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.images_per_second = result.seconds > 0 ? set.size() / result.seconds : 0.0;
  return result;
}

}  // namespace ember::training
