// Child processes of the experiment runner (experiment/process.h).
#include "experiment/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "tensor/error.h"

namespace ember::experiment {

namespace fs = std::filesystem;

pid_t start_child(const ChildSpec& spec) {
  EMBER_CHECK(fs::exists(spec.program), "cannot start ", spec.program.string(),
              ": no such program (was the project built? see README)");
  fs::create_directories(spec.log_file.parent_path());
  const int log = ::open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  EMBER_CHECK(log >= 0, "cannot open the log file ", spec.log_file.string(), ": ",
              std::strerror(errno));
  std::vector<std::string> argv_strings = {spec.program.filename().string()};
  argv_strings.insert(argv_strings.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const std::string gpu = spec.gpu >= 0 ? std::to_string(spec.gpu) : "";
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    EMBER_FAIL("cannot start ", spec.program.string(), ": fork failed: ", std::strerror(errno));
  }
  if (pid == 0) {
    // In the child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the runner died before prctl took effect
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    ::close(STDIN_FILENO);
    if (!gpu.empty()) ::setenv("CUDA_VISIBLE_DEVICES", gpu.c_str(), 1);
    ::execv(spec.program.c_str(), argv.data());
    const char message[] = "experiment: exec failed\n";
    [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(127);
  }
  ::close(log);
  return pid;
}

pid_t poll_children(int* exit_code) {
  int status = 0;
  const pid_t pid = ::waitpid(-1, &status, WNOHANG);
  if (pid <= 0) return 0;
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return pid;
}

namespace {

// The last `max_bytes` bytes of `file` ("" when it cannot be read).
std::string read_tail(const fs::path& file, size_t max_bytes) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff start = size > static_cast<std::streamoff>(max_bytes) ? size - max_bytes : 0;
  in.seekg(start);
  std::string tail(static_cast<size_t>(size - start), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  return tail;
}

}  // namespace

std::string last_line(const fs::path& file, size_t max_bytes) {
  const std::string tail = read_tail(file, max_bytes);
  // Progress lines end in '\r' as well as '\n': split on both.
  size_t end = tail.find_last_not_of("\r\n ");
  if (end == std::string::npos) return "";
  size_t begin = tail.find_last_of("\r\n", end);
  return tail.substr(begin == std::string::npos ? 0 : begin + 1, end - (begin == std::string::npos ? 0 : begin + 1) + 1);
}

std::string error_line(const fs::path& file, const std::string& program, size_t max_bytes) {
  const std::string tail = read_tail(file, max_bytes);
  // Lines end in '\n' or, for progress lines, '\r'.
  const std::string prefix = program + ": ";
  std::string error;
  for (size_t begin = 0; begin < tail.size();) {
    const size_t end = std::min(tail.find_first_of("\r\n", begin), tail.size());
    if (tail.compare(begin, prefix.size(), prefix) == 0) error = tail.substr(begin, end - begin);
    begin = end + 1;
  }
  return error.empty() ? last_line(file, max_bytes) : error;
}

fs::path executable_dir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  EMBER_CHECK(!ec, "cannot find the running program (/proc/self/exe): ", ec.message());
  return self.parent_path();
}

}  // namespace ember::experiment
