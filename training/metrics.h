// Classification metrics: a confusion matrix (rows = true class, columns = predicted class)
// and what is read off it: overall accuracy, per-class accuracy (recall), the mean accuracy
// over a group of classes (the experiment's minority classes), and a JSON form for result
// files. Tested in tests/test_training_metrics.cpp against hand-counted matrices.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ember::training {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(std::vector<std::string> class_names);

  // One sample of class `truth` predicted as `predicted` (both in [0, classes)).
  void add(int64_t truth, int64_t predicted);
  void add(const std::vector<int64_t>& truths, const std::vector<int64_t>& predictions);

  int64_t num_classes() const { return static_cast<int64_t>(names_.size()); }
  const std::vector<std::string>& class_names() const { return names_; }
  int64_t count(int64_t truth, int64_t predicted) const;
  int64_t total() const { return total_; }
  int64_t class_total(int64_t truth) const;  // samples whose true class is `truth`

  // Correct / total (0 when empty).
  double accuracy() const;
  // Correct / samples of that class; NaN for a class with no samples (it has no accuracy).
  double class_accuracy(int64_t c) const;
  // Correct / samples over the named classes pooled (e.g. Highway and River together); an
  // unknown name is an error.
  double group_accuracy(const std::vector<std::string>& classes) const;
  // The unweighted mean of the per-class accuracies of the named classes.
  double mean_class_accuracy(const std::vector<std::string>& classes) const;
  int64_t class_index(const std::string& name) const;

  // {"classes": [...], "matrix": [[...]], "accuracy": x, "per_class_accuracy": {name: x}}
  nlohmann::json to_json() const;
  // A fixed-width text table for logs.
  std::string to_text() const;

 private:
  std::vector<std::string> names_;
  std::vector<int64_t> counts_;  // row-major [truth][predicted]
  int64_t total_ = 0;
};

}  // namespace ember::training
