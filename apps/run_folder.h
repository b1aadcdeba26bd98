// The start of a training app's run in its --out folder (train_classifier, train_gan): claims
// the folder (one process at a time, a lock on <out>.lock; files a killed run was writing are
// removed), refuses a folder that already holds a run unless --resume, opens train.log, and
// trains; an error from then on is written to train.log too. Tested by the CTest smoke tests
// TrainClassifierApp and TrainGanApp (tests/apps/).
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "tensor/atomic_file.h"
#include "tensor/error.h"
#include "training/output_lock.h"
#include "training/run_log.h"

namespace ember::apps {

// state_files: the files in out whose presence means the folder already holds a run.
inline int run_in_folder(const std::filesystem::path& out, bool resume,
                         const std::vector<std::string>& state_files,
                         const std::function<int(training::RunLog&)>& train) {
  std::filesystem::create_directories(out);
  const training::OutputLock lock(training::lock_file_for(out), "the run folder " + out.string());
  bool has_state = false;
  for (const std::string& name : state_files)
    has_state = has_state || std::filesystem::exists(out / name);
  EMBER_CHECK(resume || !has_state, "the run folder ", out.string(),
              " already holds a run: pass --resume to continue it, or choose another --out");
  training::RunLog log(out / "train.log");
  for (const std::string& leftover : remove_leftover_temp_files(out.string(), true))
    log.line("removed " + leftover + ", left by a killed writer");
  return log.logging_errors([&] { return train(log); });
}

}  // namespace ember::apps
