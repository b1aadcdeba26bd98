// The classifier's epoch history as CSV and JSON (see classifier_history.h).
#include "training/classifier_history.h"

#include "training/run_log.h"

namespace ember::training {

std::string history_csv(const std::vector<EpochRecord>& history) {
  std::string out =
      "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,seconds,train_images_per_second\n";
  for (const EpochRecord& r : history) {
    out += format("%lld,%.6g,%.6f,%.6f,%.6f,%.6f,%.3f,%.2f\n", static_cast<long long>(r.epoch),
                  r.lr, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy, r.seconds,
                  r.train_images_per_second);
  }
  return out;
}

nlohmann::json history_json(const std::vector<EpochRecord>& history) {
  nlohmann::json out = nlohmann::json::array();
  for (const EpochRecord& r : history) {
    out.push_back({{"epoch", r.epoch}, {"lr", r.lr}, {"train_loss", r.train_loss},
                   {"train_accuracy", r.train_accuracy}, {"val_loss", r.val_loss},
                   {"val_accuracy", r.val_accuracy}, {"seconds", r.seconds},
                   {"train_images_per_second", r.train_images_per_second}});
  }
  return out;
}

std::vector<EpochRecord> history_from_json(const nlohmann::json& j) {
  std::vector<EpochRecord> out;
  for (const auto& r : j) {
    out.push_back({.epoch = r.at("epoch"), .lr = r.at("lr"), .train_loss = r.at("train_loss"),
                   .train_accuracy = r.at("train_accuracy"), .val_loss = r.at("val_loss"),
                   .val_accuracy = r.at("val_accuracy"), .seconds = r.at("seconds"),
                   .train_images_per_second = r.at("train_images_per_second")});
  }
  return out;
}

}  // namespace ember::training
