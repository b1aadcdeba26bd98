// Differences between two configurations (see config_difference.h).
#include "training/config_difference.h"

#include <algorithm>

namespace ember::training {

namespace {

const char* kAbsent = "(absent)";

// The value at `path` in `j` as JSON text, or kAbsent ("/-" and missing fields included).
std::string value_at(const nlohmann::json& j, const std::string& path) {
  const nlohmann::json::json_pointer pointer(path);
  if (path.ends_with("/-") || !j.contains(pointer)) return kAbsent;
  return j.at(pointer).dump();
}

}  // namespace

std::vector<ConfigChange> config_changes(const nlohmann::json& before, const nlohmann::json& now) {
  std::vector<ConfigChange> out;
  for (const nlohmann::json& op : nlohmann::json::diff(before, now)) {
    const std::string path = op.at("path");
    const std::string kind = op.at("op");
    out.push_back({path, value_at(before, path),
                   kind == "remove" ? std::string(kAbsent) : op.at("value").dump()});
  }
  return out;
}

std::string config_difference(const std::string& theirs, const std::string& mine) {
  const nlohmann::json a = nlohmann::json::parse(theirs, nullptr, false);
  const nlohmann::json b = nlohmann::json::parse(mine, nullptr, false);
  if (!a.is_object() || !b.is_object()) return "\n  its:  " + theirs + "\n  this: " + mine;
  std::vector<ConfigChange> changes = config_changes(a, b);
  std::sort(changes.begin(), changes.end(),
            [](const ConfigChange& x, const ConfigChange& y) { return x.path < y.path; });
  std::string out;
  for (const ConfigChange& c : changes) {
    out += "\n  " + c.path.substr(1) + ": the checkpoint's " + c.before + ", this run's " + c.now;
  }
  return out;
}

}  // namespace ember::training
