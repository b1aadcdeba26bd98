// The classifier's per-epoch record and its written forms: history.csv (one row per epoch) and
// the JSON array kept in last.safetensors' metadata (for resume) and in result.json. One
// definition for the trainer and apps/train_classifier, so the two cannot drift.
// Tested through tests/test_training_trainer.cpp (resume reads back what it wrote).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ember::training {

struct EpochRecord {
  int64_t epoch = 0;  // 1-based
  double lr = 0;
  double train_loss = 0, train_accuracy = 0;
  double val_loss = 0, val_accuracy = 0;
  double seconds = 0;                // the whole epoch, validation included
  double train_images_per_second = 0;
};

// The history as CSV text (header + one row per epoch).
std::string history_csv(const std::vector<EpochRecord>& history);

// The history as a JSON array of objects, one per epoch, every field by name (doubles exact).
nlohmann::json history_json(const std::vector<EpochRecord>& history);
// The inverse of history_json; a missing field is a nlohmann::json exception.
std::vector<EpochRecord> history_from_json(const nlohmann::json& j);

}  // namespace ember::training
