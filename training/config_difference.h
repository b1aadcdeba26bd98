// How two run configurations (JSON) differ, field by field: what a resume or a rerun names
// when it refuses another configuration. Used by training/classifier_trainer.cpp and
// experiment/runner.cpp. Tested through tests/test_training_trainer.cpp and
// tests/test_experiment_runner.cpp (the refusals name the changed fields).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ember::training {

struct ConfigChange {
  std::string path;    // a JSON pointer: "/lr", "/classifier/epochs", "/seeds/2"
  std::string before;  // the value as JSON text; "(absent)" where `before` lacks the field
  std::string now;     // likewise for `now`
};

// The changed fields in the order of nlohmann::json::diff (RFC 6902 paths: objects compared
// key by key, arrays element by element; an appended array element has the path ".../-").
std::vector<ConfigChange> config_changes(const nlohmann::json& before, const nlohmann::json& now);

// For a refused resume: one line per changed field, sorted by name, as
// "\n  lr: the checkpoint's 0.001, this run's 0.01", when both keys are JSON objects;
// otherwise both texts ("\n  its:  <theirs>\n  this: <mine>").
std::string config_difference(const std::string& theirs, const std::string& mine);

}  // namespace ember::training
