// One writer per output: every app that writes an --out (train_classifier, train_gan,
// generate, build_augmented, gan_quality) holds an exclusive lock on "<out>.lock" while it
// runs, so two processes never write the same folder or file at once; the second one stops
// at start with an error naming the output. flock(2): the kernel drops the lock when the holder
// dies, kill -9 included, so a stale lock file never blocks a rerun. The lock also makes the
// start-up cleanups safe (tensor/atomic_file.h leftovers, training/partial_folder.h).
// Tested in tests/test_file_safety.cpp and tests/apps/*_smoke.sh (a lock held by flock(1)).
#pragma once
#include <filesystem>
#include <string>

namespace ember::training {

class OutputLock {
 public:
  // Locks `lock_file` (created if absent; its folder must exist) without waiting, and writes
  // this process's pid into it. When another process holds it, throws an ember::Error naming
  // `what` (e.g. "the run folder runs/x") and the holder's pid; an error creating the file
  // (a read-only folder, a missing one) names the file.
  OutputLock(std::filesystem::path lock_file, std::string what);
  // Removes the lock file, then releases the lock.
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

// "<out>.lock", beside the output (a trailing '/' ignored): it can be taken before the output
// exists, and is not part of what the app writes.
std::filesystem::path lock_file_for(const std::filesystem::path& out);

}  // namespace ember::training
