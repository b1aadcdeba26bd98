// Run log (see run_log.h).
#include "training/run_log.h"

#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstring>
#include <ctime>

#include "tensor/error.h"

namespace ember::training {

RunLog::RunLog(const std::filesystem::path& path) : path_(path) {
  if (path_.empty()) return;
  file_ = std::fopen(path_.c_str(), "a");
  EMBER_CHECK(file_ != nullptr, "cannot open the log file ", path_.string(), ": ",
              std::strerror(errno));
}

RunLog::~RunLog() {
  if (file_) std::fclose(file_);
}

void RunLog::line(const std::string& text) {
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
  if (file_ && !append(text))
    EMBER_FAIL("writing the log file ", path_.string(), " failed: ", std::strerror(errno));
}

bool RunLog::append(const std::string& text) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
  // Flushed at once, and both steps checked: a buffered error would only show at fclose.
  const bool ok = std::fprintf(file_, "%s %s\n", stamp, text.c_str()) >= 0 && std::fflush(file_) == 0;
  if (!ok) std::clearerr(file_);
  return ok;
}

int RunLog::logging_errors(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    // Best effort: when the file itself is what failed, the caller still reports the error.
    if (file_) append(std::string("error: ") + e.what());
    throw;
  }
}

void RunLog::progress(const std::string& text) {
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

std::string format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string out(n > 0 ? n : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, args);
  va_end(args);
  return out;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long s = std::llround(seconds);
  if (s >= 3600) return format("%lldh%02lldm", s / 3600, (s % 3600) / 60);
  if (s >= 60) return format("%lldm%02llds", s / 60, s % 60);
  return format("%llds", s);
}

}  // namespace ember::training
