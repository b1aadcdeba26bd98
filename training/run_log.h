// A run's log: each line goes to stdout and is appended to a log file (flushed at once, so a
// killed run keeps every line it printed), prefixed in the file with the UTC time. progress()
// lines go to stdout only (they are many and say nothing a later reader needs).
// Tested through the training app's tests (tests/test_train_classifier_app.cpp).
#pragma once
#include <cstdio>
#include <filesystem>
#include <string>

namespace ember::training {

class RunLog {
 public:
  // An empty path logs to stdout only. The file is opened for appending (a resumed run adds
  // to it); failing to open it is an error naming the path.
  explicit RunLog(const std::filesystem::path& path = {});
  ~RunLog();
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;

  void line(const std::string& text);
  void progress(const std::string& text);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

// printf into a std::string.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace ember::training
