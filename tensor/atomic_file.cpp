// Atomic file replacement (see atomic_file.h).
#include "tensor/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tensor/error.h"

namespace ember {
namespace {

void write_all(int fd, std::string_view bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    // A full disk or a file-size limit shows as a short write, then ENOSPC or EFBIG.
    const int err = n < 0 ? errno : EIO;  // n == 0 cannot happen for a regular file
    EMBER_CHECK(n > 0, "writing '", path, "' failed: ", std::strerror(err));
    done += static_cast<size_t>(n);
  }
}

// "<digits>" as a pid, or -1.
long parse_pid(std::string_view text) {
  if (text.empty() || text.size() > 9) return -1;
  long pid = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    pid = pid * 10 + (c - '0');
  }
  return pid;
}

// The writer's pid when `name` is "<something>.tmp.<pid>.<n>" or "<something>.tmp.<pid>", else -1.
long temp_file_writer(const std::string& name) {
  const size_t at = name.rfind(".tmp.");
  if (at == std::string::npos || at == 0) return -1;
  std::string_view rest = std::string_view(name).substr(at + 5);
  const size_t dot = rest.find('.');
  if (dot != std::string_view::npos) {
    if (parse_pid(rest.substr(dot + 1)) < 0) return -1;  // the counter: digits too
    rest = rest.substr(0, dot);
  }
  return parse_pid(rest);
}

bool process_is_gone(long pid) {
  if (pid <= 0 || pid == static_cast<long>(::getpid())) return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;  // EPERM: alive, not ours
}

}  // namespace

void write_file_atomically(const std::string& path, std::string_view bytes,
                           const AtomicWriteOptions& options) {
  write_file_atomically(path, {bytes}, options);
}

void write_file_atomically(const std::string& path, std::initializer_list<std::string_view> parts,
                           const AtomicWriteOptions& options) {
  // The temporary file sits beside the target so rename() stays within one filesystem (and so is
  // atomic); pid and a counter keep concurrent writers apart, and tell a killed writer's leftover
  // (remove_leftover_temp_files).
  static std::atomic<uint64_t> counter{0};
  const std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." +
                           std::to_string(counter.fetch_add(1));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  EMBER_CHECK(fd >= 0, "writing '", path, "': cannot create temporary file '", temp,
              "': ", std::strerror(errno));
  try {
    for (std::string_view part : parts) write_all(fd, part, path);
    if (options.sync)
      EMBER_CHECK(::fsync(fd) == 0, "writing '", path, "': fsync failed: ", std::strerror(errno));
    // close() can report a deferred write error (NFS, quotas): checked too.
    EMBER_CHECK(::close(fd) == 0, "writing '", path, "': close failed: ", std::strerror(errno));
  } catch (...) {
    ::close(fd);  // may fail when already closed; the file is removed either way
    ::unlink(temp.c_str());
    throw;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    EMBER_FAIL("writing '", path, "': cannot rename the temporary file into place: ",
               std::strerror(err));
  }
  if (!options.sync) return;
  // Make the rename itself durable: fsync the folder (best effort; some filesystems refuse).
  const size_t slash = path.find_last_of('/');
  const std::string folder =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

std::vector<std::string> remove_leftover_temp_files(const std::string& folder, bool recursive) {
  namespace fs = std::filesystem;
  std::vector<std::string> removed;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return removed;
  std::vector<fs::path> candidates;
  const auto consider = [&](const fs::directory_entry& e) {
    std::error_code ignored;
    if (e.is_regular_file(ignored) && process_is_gone(temp_file_writer(e.path().filename().string())))
      candidates.push_back(e.path());
  };
  if (recursive) {
    for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::end(it);
         it.increment(ec))
      consider(*it);
  } else {
    for (auto it = fs::directory_iterator(folder, ec); !ec && it != fs::end(it); it.increment(ec))
      consider(*it);
  }
  EMBER_CHECK(!ec, "cannot list '", folder, "' for leftover temporary files: ", ec.message());
  std::sort(candidates.begin(), candidates.end());
  for (const fs::path& p : candidates) {
    // Another process cleaning the same folder may have removed it first: not an error.
    if (fs::remove(p, ec)) removed.push_back(p.string());
    EMBER_CHECK(!ec, "cannot remove the leftover temporary file '", p.string(), "': ",
                ec.message());
  }
  return removed;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK(in.good(), "cannot open '", path, "': ", std::strerror(errno));
  std::ostringstream out;
  out << in.rdbuf();
  EMBER_CHECK(!in.bad(), "reading '", path, "' failed");
  return out.str();
}

}  // namespace ember
