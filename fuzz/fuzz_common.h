// What the fuzz targets share (fuzz/README.md): the rule for exceptions, and an in-memory file
// for the readers that take a path.
//
// The rule: bad input must end in ember::Error (the framework's one exception type, whose message
// names the file and the problem). Anything else is a finding, and aborts so libFuzzer saves the
// input: another exception type (it would reach the user without naming the file), a crash, a
// sanitizer report, a timeout or an allocation over libFuzzer's -malloc_limit_mb.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "tensor/error.h"

namespace ember::fuzz {

// Runs f(); ember::Error is the expected outcome of bad input, any other exception aborts.
template <typename F>
void expect_only_ember_errors(F&& f) {
  try {
    f();
  } catch (const ember::Error&) {
    // Rejected with ember's error: the reader did its job.
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FINDING: an exception other than ember::Error escaped: %s\n", e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "FINDING: a non-standard exception escaped\n");
    std::abort();
  }
}

// Aborts with `what` when `ok` is false: a broken invariant is a finding like a crash.
inline void check_invariant(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "FINDING: invariant broken: %s\n", what);
  std::abort();
}

// A file that lives in memory (memfd_create), reached by the path /proc/self/fd/<n>, so the
// readers that take a path read each input without touching a disk or leaving files behind.
// Opening the path gives a new file description, so every read starts at byte 0.
class MemoryFile {
 public:
  MemoryFile() : fd_(::memfd_create("ember-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  // Replaces the contents with `size` bytes at `data`; returns the path.
  const std::string& write(const void* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0 || (size > 0 && ::pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size))) {
      std::perror("memory file write");
      std::abort();
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

}  // namespace ember::fuzz
