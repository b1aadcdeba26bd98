// Confusion matrix arithmetic (see metrics.h).
#include "training/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "tensor/error.h"

namespace ember::training {

ConfusionMatrix::ConfusionMatrix(std::vector<std::string> class_names)
    : names_(std::move(class_names)), counts_(names_.size() * names_.size(), 0) {
  EMBER_CHECK(!names_.empty(), "ConfusionMatrix: no classes");
}

void ConfusionMatrix::add(int64_t truth, int64_t predicted) {
  const int64_t n = num_classes();
  EMBER_CHECK(truth >= 0 && truth < n, "ConfusionMatrix: true class ", truth, " out of [0, ", n,
              ")");
  EMBER_CHECK(predicted >= 0 && predicted < n, "ConfusionMatrix: predicted class ", predicted,
              " out of [0, ", n, ")");
  ++counts_[truth * n + predicted];
  ++total_;
}

void ConfusionMatrix::add(const std::vector<int64_t>& truths,
                          const std::vector<int64_t>& predictions) {
  EMBER_CHECK(truths.size() == predictions.size(), "ConfusionMatrix: ", truths.size(),
              " labels but ", predictions.size(), " predictions");
  for (size_t i = 0; i < truths.size(); ++i) add(truths[i], predictions[i]);
}

int64_t ConfusionMatrix::count(int64_t truth, int64_t predicted) const {
  return counts_.at(truth * num_classes() + predicted);
}

int64_t ConfusionMatrix::class_total(int64_t truth) const {
  int64_t sum = 0;
  for (int64_t p = 0; p < num_classes(); ++p) sum += count(truth, p);
  return sum;
}

double ConfusionMatrix::accuracy() const {
  if (total_ == 0) return 0.0;
  int64_t correct = 0;
  for (int64_t c = 0; c < num_classes(); ++c) correct += count(c, c);
  return static_cast<double>(correct) / total_;
}

double ConfusionMatrix::class_accuracy(int64_t c) const {
  const int64_t n = class_total(c);
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(count(c, c)) / n;
}

int64_t ConfusionMatrix::class_index(const std::string& name) const {
  const auto it = std::find(names_.begin(), names_.end(), name);
  EMBER_CHECK(it != names_.end(), "ConfusionMatrix: unknown class '", name, "'");
  return it - names_.begin();
}

double ConfusionMatrix::group_accuracy(const std::vector<std::string>& classes) const {
  int64_t correct = 0, total = 0;
  for (const auto& name : classes) {
    const int64_t c = class_index(name);
    correct += count(c, c);
    total += class_total(c);
  }
  return total == 0 ? std::numeric_limits<double>::quiet_NaN()
                    : static_cast<double>(correct) / total;
}

double ConfusionMatrix::mean_class_accuracy(const std::vector<std::string>& classes) const {
  EMBER_CHECK(!classes.empty(), "ConfusionMatrix: mean over no classes");
  double sum = 0;
  for (const auto& name : classes) sum += class_accuracy(class_index(name));
  return sum / static_cast<double>(classes.size());
}

nlohmann::json ConfusionMatrix::to_json() const {
  nlohmann::json matrix = nlohmann::json::array();
  nlohmann::json per_class = nlohmann::json::object();
  for (int64_t t = 0; t < num_classes(); ++t) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t p = 0; p < num_classes(); ++p) row.push_back(count(t, p));
    matrix.push_back(row);
    const double acc = class_accuracy(t);
    per_class[names_[t]] = std::isnan(acc) ? nlohmann::json(nullptr) : nlohmann::json(acc);
  }
  return {{"classes", names_},
          {"matrix", matrix},
          {"total", total_},
          {"accuracy", accuracy()},
          {"per_class_accuracy", per_class}};
}

std::string ConfusionMatrix::to_text() const {
  size_t width = 6;
  for (const auto& n : names_) width = std::max(width, n.size());
  std::string out;
  char cell[64];
  out += std::string(width + 2, ' ');
  for (int64_t p = 0; p < num_classes(); ++p) {
    std::snprintf(cell, sizeof cell, " %5lld", static_cast<long long>(p));
    out += cell;
  }
  out += "   accuracy\n";
  for (int64_t t = 0; t < num_classes(); ++t) {
    std::snprintf(cell, sizeof cell, "%lld ", static_cast<long long>(t));
    std::string label = cell + names_[t];
    out += label + std::string(width + 2 - std::min(width + 2, label.size()), ' ');
    for (int64_t p = 0; p < num_classes(); ++p) {
      std::snprintf(cell, sizeof cell, " %5lld", static_cast<long long>(count(t, p)));
      out += cell;
    }
    std::snprintf(cell, sizeof cell, "   %.4f\n", class_accuracy(t));
    out += cell;
  }
  return out;
}

}  // namespace ember::training
