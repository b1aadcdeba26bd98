// The ledger of finished units (experiment/ledger.h).
#include "experiment/ledger.h"

#include <ctime>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace ember::experiment {

namespace fs = std::filesystem;
using nlohmann::json;

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

Ledger::Ledger(fs::path path) : path_(std::move(path)) {
  if (!fs::exists(path_)) return;
  const json j = json::parse(read_file(path_.string()), nullptr, /*allow_exceptions=*/false);
  EMBER_CHECK(!j.is_discarded() && j.is_object() && j.value("format", "") == "ember.experiment.ledger.v1",
              path_.string(), " is not an experiment ledger (malformed JSON or wrong format): move it "
              "away to start the experiment afresh");
  // A ledger that parses but has the wrong shape (an edited or damaged file) makes nlohmann
  // throw its own error, which does not say which file: name it.
  try {
    for (auto it = j.at("units").begin(); it != j.at("units").end(); ++it) {
      const json& e = it.value();
      entries_[it.key()] = {e.value("status", ""), e.value("seconds", 0.0), e.value("device", ""),
                            e.value("started", ""), e.value("finished", ""), e.value("attempts", 0),
                            e.value("note", "")};
    }
  } catch (const json::exception& e) {
    EMBER_FAIL(path_.string(), " is a damaged experiment ledger (", e.what(),
               "): repair it, or move it away to run every unit again");
  }
}

bool Ledger::is_done(const std::string& id, const fs::path& done_file) const {
  const LedgerEntry* e = find(id);
  return e && e->status == "done" && fs::exists(done_file);
}

const LedgerEntry* Ledger::find(const std::string& id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

void Ledger::mark_running(const std::string& id, const std::string& device) {
  LedgerEntry& e = entries_[id];
  e.status = "running";
  e.device = device;
  e.started = utc_now();
  e.finished.clear();
  e.note.clear();
  e.attempts += 1;
  save();
}

void Ledger::mark_done(const std::string& id, double seconds) {
  LedgerEntry& e = entries_[id];
  e.status = "done";
  e.seconds = seconds;
  e.finished = utc_now();
  save();
}

void Ledger::mark_failed(const std::string& id, double seconds, const std::string& note) {
  LedgerEntry& e = entries_[id];
  e.status = "failed";
  e.seconds = seconds;
  e.finished = utc_now();
  e.note = note;
  save();
}

void Ledger::save() const {
  json units = json::object();
  for (const auto& [id, e] : entries_)
    units[id] = {{"status", e.status}, {"seconds", e.seconds}, {"device", e.device},
                 {"started", e.started}, {"finished", e.finished}, {"attempts", e.attempts},
                 {"note", e.note}};
  const json j = {{"format", "ember.experiment.ledger.v1"}, {"units", units}};
  write_file_atomically(path_.string(), j.dump(2) + "\n");
}

}  // namespace ember::experiment
