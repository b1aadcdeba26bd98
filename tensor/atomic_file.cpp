// Atomic file replacement (see atomic_file.h).
#include "tensor/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tensor/error.h"

namespace ember {
namespace {

void write_all(int fd, const std::string& bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    EMBER_CHECK(n > 0, "writing '", path, "' failed: ", std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes) {
  // The temporary file sits beside the target so rename() stays within one filesystem (and so is
  // atomic); pid and a counter keep concurrent writers apart.
  static std::atomic<uint64_t> counter{0};
  const std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." +
                           std::to_string(counter.fetch_add(1));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  EMBER_CHECK(fd >= 0, "writing '", path, "': cannot create temporary file '", temp,
              "': ", std::strerror(errno));
  try {
    write_all(fd, bytes, path);
    EMBER_CHECK(::fsync(fd) == 0, "writing '", path, "': fsync failed: ", std::strerror(errno));
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

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK(in.good(), "cannot open '", path, "': ", std::strerror(errno));
  std::ostringstream out;
  out << in.rdbuf();
  EMBER_CHECK(!in.bad(), "reading '", path, "' failed");
  return out.str();
}

}  // namespace ember
