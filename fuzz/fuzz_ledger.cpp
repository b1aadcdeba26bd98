// libFuzzer target: the experiment's ledger reader, experiment::Ledger (experiment/ledger.h),
// which reads <out>/ledger.json when a run resumes. It takes a path, so each input is written to
// an in-memory file (fuzz_common.h). Expected outcomes: a ledger, or ember::Error naming the file.
// A ledger that loads is queried as the runner does (find, is_done). Seeds: corpus/ledger/;
// dictionary: ledger.dict. Run: scripts/fuzz.sh ledger.
#include <cstdint>

#include "experiment/ledger.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ember::fuzz::MemoryFile file;
  const std::string& path = file.write(data, size);
  ember::fuzz::expect_only_ember_errors([&] {
    const ember::experiment::Ledger ledger(path);
    for (const auto& [id, entry] : ledger.entries()) {
      ember::fuzz::check_invariant(ledger.find(id) == &entry, "Ledger::find misses a listed unit");
      (void)ledger.is_done(id, "/nonexistent/ember-fuzz");
    }
  });
  return 0;
}
