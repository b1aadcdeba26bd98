// A run's log: each line goes to stdout and is appended to a log file (flushed at once, so a
// killed run keeps every line it printed), prefixed in the file with the UTC time. progress()
// lines go to stdout only (they are many and say nothing a later reader needs). A line the
// file cannot take (a full disk) is an error naming the file, and logging_errors puts the error
// that ends a run into the file as well.
// Tested in tests/test_file_safety.cpp and through the apps' smoke tests (tests/apps/).
#pragma once
#include <cstdio>
#include <filesystem>
#include <functional>
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
  // Runs `body` and returns its value; an exception leaving it is also written to the file as
  // "error: <message>" (stdout does not repeat it: run_cli_main prints it to stderr) and then
  // goes on to the caller. Without it, train.log would end mid-run with no reason.
  int logging_errors(const std::function<int()>& body);
  const std::filesystem::path& path() const { return path_; }

 private:
  // Appends one timestamped line to the file; false (errno set) when it could not.
  bool append(const std::string& text);

  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

// printf into a std::string.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace ember::training
