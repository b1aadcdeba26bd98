// Gathering the classifier runs' results (experiment/results.h).
#include "experiment/results.h"

#include "tensor/atomic_file.h"
#include "tensor/error.h"
#include "training/run_log.h"

namespace ember::experiment {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const json& field(const json& j, const char* key, const fs::path& file) {
  EMBER_CHECK(j.is_object() && j.contains(key), file.string(), ": missing field '", key, "'");
  return j.at(key);
}

// A CSV cell: quoted when it holds a comma, a quote or a newline.
std::string cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

RunResult read_run_result(const fs::path& file, const std::string& unit_id,
                          const std::string& group, int64_t seed) {
  const json j = json::parse(read_file(file.string()), nullptr, /*allow_exceptions=*/false);
  EMBER_CHECK(!j.is_discarded(), file.string(), " is not valid JSON");
  EMBER_CHECK(j.value("format", "") == "ember.train_classifier.v1", file.string(),
              " is not a train_classifier result (format ", j.value("format", "?"), ")");
  RunResult r;
  r.unit_id = unit_id;
  r.group = group;
  r.seed = seed;
  try {
    const json& test = field(j, "test", file);
    r.accuracy = field(test, "accuracy", file).get<double>();
    r.minority_accuracy = field(test, "minority_accuracy", file).get<double>();
    r.classes = field(test, "classes", file).get<std::vector<std::string>>();
    const json& per_class = field(test, "per_class_accuracy", file);
    for (const std::string& c : r.classes) r.per_class_accuracy.push_back(field(per_class, c.c_str(), file).get<double>());
    r.matrix = field(test, "matrix", file).get<std::vector<std::vector<long long>>>();
    r.epochs = field(j, "epochs_run", file).get<int64_t>();
    r.seconds = field(j, "seconds", file).get<double>();
    r.device = field(j, "device", file).get<std::string>();
    r.train_images = field(j, "train_images", file).get<int64_t>();
    for (const json& h : field(j, "history", file)) {
      r.val_accuracy.push_back(field(h, "val_accuracy", file).get<double>());
      r.train_loss.push_back(field(h, "train_loss", file).get<double>());
    }
  } catch (const json::exception& e) {
    EMBER_FAIL(file.string(), ": a field has the wrong type (", e.what(), ")");
  }
  EMBER_CHECK(r.matrix.size() == r.classes.size(), file.string(), ": the confusion matrix has ",
              r.matrix.size(), " rows for ", r.classes.size(), " classes");
  return r;
}

std::vector<RunResult> collect_results(const std::vector<Unit>& plan, const fs::path& out,
                                       const Ledger& ledger) {
  std::vector<RunResult> runs;
  for (const Unit& u : plan) {
    if (u.kind != UnitKind::kClassifier || !ledger.is_done(u.id, out / u.done_file)) continue;
    runs.push_back(read_run_result(out / u.done_file, u.id, u.group, u.seed));
  }
  return runs;
}

std::string results_csv(const std::vector<RunResult>& runs) {
  std::string csv = "group,seed,accuracy,minority_accuracy";
  if (!runs.empty())
    for (const std::string& c : runs.front().classes) csv += ",acc_" + cell(c);
  csv += ",epochs,seconds,device,train_images,unit\n";
  for (const RunResult& r : runs) {
    csv += training::format("%s,%lld,%.6f,%.6f", cell(r.group).c_str(), static_cast<long long>(r.seed),
                            r.accuracy, r.minority_accuracy);
    for (double a : r.per_class_accuracy) csv += training::format(",%.6f", a);
    csv += training::format(",%lld,%.1f,%s,%lld,%s\n", static_cast<long long>(r.epochs), r.seconds,
                            cell(r.device).c_str(), static_cast<long long>(r.train_images),
                            cell(r.unit_id).c_str());
  }
  return csv;
}

}  // namespace ember::experiment
