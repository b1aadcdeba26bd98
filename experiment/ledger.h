// The experiment's record of finished units: <out>/ledger.json, rewritten atomically after
// every change, so a kill at any moment leaves either the old or the new record. A unit counts
// as done only when the ledger says so AND its output file exists (a ledger entry whose files
// were deleted is redone). Tested in tests/test_experiment_ledger.cpp.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ember::experiment {

struct LedgerEntry {
  std::string status;       // "running", "done" or "failed"
  double seconds = 0;       // wall time of the finished attempt
  std::string device;       // e.g. "cpu", "cuda (GPU 1)"
  std::string started;      // UTC time stamps, ISO 8601
  std::string finished;
  int attempts = 0;         // how many times the unit was started
  std::string note;         // e.g. the failure's last log line
};

class Ledger {
 public:
  // Reads <path> when it exists (an unreadable or malformed file is an error naming it).
  explicit Ledger(std::filesystem::path path);

  bool is_done(const std::string& id, const std::filesystem::path& done_file) const;
  const LedgerEntry* find(const std::string& id) const;
  void mark_running(const std::string& id, const std::string& device);
  void mark_done(const std::string& id, double seconds);
  void mark_failed(const std::string& id, double seconds, const std::string& note);
  const std::map<std::string, LedgerEntry>& entries() const { return entries_; }

 private:
  void save() const;
  std::filesystem::path path_;
  std::map<std::string, LedgerEntry> entries_;
};

// Now, as "2026-11-25T04:05:06Z".
std::string utc_now();

}  // namespace ember::experiment
