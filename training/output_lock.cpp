// The output lock (see output_lock.h). The lock file is removed on release, which is safe only
// with a check on taking it: a process that opened the file just before the holder removed it
// would lock a file no longer at the path, so after flock the path must still name the locked
// file (same device and inode), else it starts again with a fresh file.
#include "training/output_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "tensor/error.h"

namespace ember::training {
namespace {

// The pid a holder wrote into its lock file, or "" (it may not have written it yet).
std::string holder_of(int fd) {
  char text[32] = {};
  const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  std::string pid = n > 0 ? std::string(text, static_cast<size_t>(n)) : std::string();
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid;
}

}  // namespace

OutputLock::OutputLock(std::filesystem::path lock_file, std::string what)
    : path_(std::move(lock_file)) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    EMBER_CHECK(fd >= 0, "cannot create the lock file ", path_.string(), " for ", what, ": ",
                std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string pid = err == EWOULDBLOCK ? holder_of(fd) : "";
      ::close(fd);
      EMBER_CHECK(err == EWOULDBLOCK, "cannot lock ", path_.string(), " for ", what, ": ",
                  std::strerror(err));
      EMBER_FAIL(what, " is in use by another process (",
                 pid.empty() ? std::string("it") : "pid " + pid, " holds ", path_.string(),
                 "): wait for it to finish or stop it, or choose another --out");
    }
    struct stat held{}, named{};
    if (::fstat(fd, &held) == 0 && ::stat(path_.c_str(), &named) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
      fd_ = fd;
      const std::string pid = std::to_string(::getpid()) + "\n";
      // The pid is for the message of a second process only: a failure to write it is harmless.
      [[maybe_unused]] const bool written =
          ::ftruncate(fd_, 0) == 0 &&
          ::pwrite(fd_, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
      return;
    }
    ::close(fd);  // the holder we waited behind removed this file: take the path's new one
  }
  EMBER_FAIL("cannot lock ", path_.string(), " for ", what,
             ": the lock file keeps being replaced by other processes");
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // before releasing: see the check in the constructor
  ::close(fd_);
}

std::filesystem::path lock_file_for(const std::filesystem::path& out) {
  std::filesystem::path p = out;
  while (!p.has_filename() && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
  return std::filesystem::path(p.string() + ".lock");
}

}  // namespace ember::training
