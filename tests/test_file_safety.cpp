// Nothing written passes silently: every writer of files (images, the run log, file lists, the
// decoded cache, atomic files) reports a full disk as an error naming the file; the leftovers
// of killed writers are recognised and removed; one process at a time holds an output
// (training/output_lock.h); "<out>.partial" folders of interrupted runs are removed, foreign
// ones never (training/partial_folder.h); train.log receives the error that ends a run.
// The full disk is real, not a mock: a file-size limit (setrlimit(RLIMIT_FSIZE) with SIGXFSZ
// ignored makes write() fail with EFBIG after a short write, as a full disk does with ENOSPC),
// and, where this process may mount one, a 64 KiB tmpfs (skipped with the reason otherwise).
#include <gtest/gtest.h>
#include <signal.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "datasets/derived.h"
#include "datasets/image_cache.h"
#include "datasets/image_io.h"
#include "tensor/atomic_file.h"
#include "tests/expect_error.h"
#include "tests/temp_dir.h"
#include "training/image_grid.h"
#include "training/output_lock.h"
#include "training/partial_folder.h"
#include "training/run_log.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Files this process writes may grow to `bytes` while the object lives; SIGXFSZ is ignored, so
// a write past the limit returns EFBIG instead of killing the process. Keep it around the write
// alone: the test's own output (when redirected to a file) is limited too.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ok_ = setrlimit(RLIMIT_FSIZE, &limit) == 0;
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);  // raising the soft limit back up to the hard one
    ::signal(SIGXFSZ, old_handler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  sighandler_t old_handler_ = SIG_DFL;
  bool ok_ = false;
};

// Noise does not compress: a 64x64x3 image encodes to about 12 KB as PNG.
std::vector<uint8_t> noise_pixels(int h = 64, int w = 64, int c = 3) {
  std::mt19937 rng(7);
  std::vector<uint8_t> px(static_cast<size_t>(h) * w * c);
  for (uint8_t& v : px) v = static_cast<uint8_t>(rng());
  return px;
}

// The error message of `write` run under a 4 KiB file-size limit ("" when it throws none).
std::string error_under_small_limit(const std::function<void()>& write) {
  std::string message;
  {
    FileSizeLimit limit(4096);
    if (!limit.ok()) return "setrlimit failed";
    try {
      write();
    } catch (const std::exception& e) {
      message = e.what();
    }
  }
  return message;
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A pid that belonged to a process now gone (a child that exited and was reaped).
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

TEST(FileSafety, EveryWriterReportsAFullDiskNamingTheFile) {
  TempDir dir("file_safety_full");
  const std::vector<uint8_t> px = noise_pixels();
  datasets::ImageSet set;
  set.files.assign(1000, "Highway/Highway_1234.jpg");  // 25 KB of file list
  const Tensor images = from_vector<uint8_t>(px, {1, 64, 64, 3}, {.dtype = DType::UInt8});
  const datasets::CacheEntry entry{"Highway/Highway_1.jpg", 3, 1000, 1};
  struct Case {
    std::string name, file;
    std::function<void(const std::string&)> write;
  };
  const std::vector<Case> cases = {
      {"write_png", "a.png", [&](const std::string& f) { datasets::write_png(f, px, 64, 64, 3); }},
      {"write_jpeg", "a.jpg",
       [&](const std::string& f) { datasets::write_jpeg(f, px, 64, 64, 3, 100); }},
      {"write_image_grid", "grid.png",
       [&](const std::string& f) {
         std::vector<float> values(px.size() * 2);
         for (size_t i = 0; i < values.size(); ++i) values[i] = px[i % px.size()] / 127.5f - 1.0f;
         training::write_image_grid(f, from_vector<float>(values, {2, 64, 64, 3}), 1, 2);
       }},
      {"write_file_list", "train_files.txt",
       [&](const std::string& f) { datasets::write_file_list(f, set); }},
      {"write_image_cache", "cache.bin",
       [&](const std::string& f) { datasets::write_image_cache(f, {entry}, images); }},
      {"write_file_atomically", "big.json",
       [&](const std::string& f) { write_file_atomically(f, std::string(10000, 'x')); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.file(c.file);
    const std::string message = error_under_small_limit([&] { c.write(path); });
    EXPECT_NE(message.find(path), std::string::npos) << "no error naming the file: '" << message << "'";
    EXPECT_NE(message.find(std::strerror(EFBIG)), std::string::npos) << message;
    // Nothing under the real name, no temporary file left.
    EXPECT_FALSE(fs::exists(path)) << "a cut " << path << " was left";
  }
  EXPECT_EQ(files_in(dir.path), std::vector<std::string>{});
}

TEST(FileSafety, RunLogReportsAFullDiskAndLogsTheErrorThatEndsARun) {
  TempDir dir("file_safety_log");
  const fs::path path = dir.path / "train.log";
  training::RunLog log(path);
  log.line("first line");
  const std::string message =
      error_under_small_limit([&] { log.line(std::string(8000, 'y')); });
  EXPECT_NE(message.find("writing the log file " + path.string() + " failed"), std::string::npos)
      << message;
  // The error that ends a run reaches the file, and still reaches the caller.
  EXPECT_ERROR_MENTIONS(log.logging_errors([]() -> int { EMBER_FAIL("the data went away"); }),
                        "the data went away");
  EXPECT_EQ(log.logging_errors([] { return 3; }), 3);
  const std::string text = read_file(path.string());
  EXPECT_NE(text.find("first line"), std::string::npos) << text;
  EXPECT_NE(text.find(" error: "), std::string::npos) << text;
  EXPECT_NE(text.find("the data went away"), std::string::npos) << text;
}

// A real full disk: a 64 KiB tmpfs in a child process's own mount namespace (nothing is left
// mounted whatever happens). The child writes PNGs until one fails and sends back the message.
TEST(FileSafety, PngOnAFullTmpfsIsAnErrorNamingTheFile) {
  TempDir dir("file_safety_tmpfs");
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    auto send = [&](const std::string& text) {
      [[maybe_unused]] ssize_t n = ::write(pipe_fds[1], text.data(), text.size());
      ::_exit(0);
    };
    if (::unshare(CLONE_NEWNS) != 0) send(std::string("SKIP unshare: ") + std::strerror(errno));
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      send(std::string("SKIP private mounts: ") + std::strerror(errno));
    if (::mount("tmpfs", dir.path.c_str(), "tmpfs", 0, "size=64k") != 0)
      send(std::string("SKIP mount tmpfs: ") + std::strerror(errno));
    const std::vector<uint8_t> px = noise_pixels();
    std::string result = "no error after 40 images";
    for (int i = 0; i < 40; ++i) {
      const std::string file = dir.file("gen_" + std::to_string(i) + ".png");
      try {
        datasets::write_png(file, px, 64, 64, 3);
      } catch (const std::exception& e) {
        result = "FILE " + file + "\n" + e.what() + "\nEXISTS " +
                 (fs::exists(file) ? "yes" : "no") + "\nFILES " +
                 std::to_string(files_in(dir.path).size()) + " AT " + std::to_string(i);
        break;
      }
    }
    send(result);
  }
  ::close(pipe_fds[1]);
  std::string got;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) got.append(buffer, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (got.rfind("SKIP ", 0) == 0) GTEST_SKIP() << "no tmpfs of our own here: " << got.substr(5);
  ASSERT_EQ(got.rfind("FILE ", 0), 0u) << got;
  const std::string file = got.substr(5, got.find('\n') - 5);
  EXPECT_NE(got.find("writing '" + file + "' failed: " + std::strerror(ENOSPC)), std::string::npos)
      << got;
  EXPECT_NE(got.find("EXISTS no"), std::string::npos) << got;
  // Every earlier image was whole; the failed one left nothing (not even its temporary file).
  const size_t at = std::stoul(got.substr(got.find(" AT ") + 4));
  EXPECT_NE(got.find("FILES " + std::to_string(at) + " AT"), std::string::npos) << got;
}

TEST(FileSafety, LeftoversOfKilledWritersAreRemovedLiveOnesKept) {
  TempDir dir("file_safety_leftovers");
  // A real killed writer: a child whose write_file_atomically dies of SIGXFSZ (the default
  // action, which a file-size limit sends) in the middle of writing its temporary file.
  const fs::path target = dir.path / "last.safetensors";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_DFL);
    rlimit none{0, 0};
    setrlimit(RLIMIT_CORE, &none);
    rlimit small{};
    getrlimit(RLIMIT_FSIZE, &small);
    small.rlim_cur = 1000;
    setrlimit(RLIMIT_FSIZE, &small);
    write_file_atomically(target.string(), std::string(100000, 's'));
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ) << status;
  // "<target>.tmp.<pid>.<n>", n being the child's copy of this process's counter.
  const std::vector<std::string> left = files_in(dir.path);
  ASSERT_EQ(left.size(), 1u) << "the killed writer left no temporary file";
  const std::string killed = dir.file(left[0]);
  EXPECT_EQ(left[0].rfind("last.safetensors.tmp." + std::to_string(pid) + ".", 0), 0u) << left[0];
  EXPECT_FALSE(fs::exists(target));

  const pid_t gone = dead_pid();
  const std::string me = std::to_string(::getpid());
  fs::create_directories(dir.path / "samples");
  for (const std::string& name :
       {"samples/epoch_0003.png.tmp." + std::to_string(gone) + ".7",  // below the folder
        "cache.bin.tmp." + std::to_string(gone),                      // the old cache naming
        "live.json.tmp." + me + ".1",                                 // a live writer (us)
        std::string("notes.tmp.txt"), std::string("x.tmp.12ab.3"), std::string("result.json")})
    write_file_atomically(dir.file(name), "x");

  const std::vector<std::string> flat = remove_leftover_temp_files(dir.path.string());
  EXPECT_EQ(flat, (std::vector<std::string>{dir.file("cache.bin.tmp." + std::to_string(gone)), killed}));
  EXPECT_TRUE(fs::exists(dir.file("samples/epoch_0003.png.tmp." + std::to_string(gone) + ".7")));
  const std::vector<std::string> deep = remove_leftover_temp_files(dir.path.string(), true);
  EXPECT_EQ(deep, std::vector<std::string>{dir.file("samples/epoch_0003.png.tmp." +
                                                    std::to_string(gone) + ".7")});
  EXPECT_EQ(files_in(dir.path), (std::vector<std::string>{"live.json.tmp." + me + ".1",
                                                          "notes.tmp.txt", "result.json",
                                                          "samples", "x.tmp.12ab.3"}));
  EXPECT_TRUE(remove_leftover_temp_files(dir.file("absent")).empty());
  // The image cache's own cleanup: its folder only.
  write_file_atomically(dir.file("c.bin.tmp." + std::to_string(gone) + ".0"), "x");
  EXPECT_EQ(datasets::remove_stale_cache_files(dir.path).size(), 1u);
}

TEST(FileSafety, OneProcessAtATimeHoldsAnOutput) {
  TempDir dir("file_safety_lock");
  EXPECT_EQ(training::lock_file_for("runs/x"), fs::path("runs/x.lock"));
  EXPECT_EQ(training::lock_file_for("runs/x/"), fs::path("runs/x.lock"));
  EXPECT_EQ(training::lock_file_for("q.json"), fs::path("q.json.lock"));
  const fs::path out = dir.path / "run";
  const fs::path lock_file = training::lock_file_for(out);
  {
    training::OutputLock first(lock_file, "the run folder " + out.string());
    EXPECT_EQ(read_file(lock_file.string()), std::to_string(::getpid()) + "\n");
    // flock locks belong to an open file, so a second open in this process is refused as
    // another process would be, and the message names the output and the holder.
    testing::expect_error(
        [&] { training::OutputLock second(lock_file, "the run folder " + out.string()); },
        {"the run folder " + out.string() + " is in use by another process",
         "pid " + std::to_string(::getpid()), lock_file.string()});
  }
  EXPECT_FALSE(fs::exists(lock_file)) << "the lock file outlived its lock";
  { training::OutputLock again(lock_file, "the run folder"); }
  // A lock file left by a killed holder (kill -9 drops the flock, not the file) does not block.
  write_file_atomically(lock_file.string(), "12345\n");
  { training::OutputLock after_kill(lock_file, "the run folder"); }
  // A folder that cannot hold the lock file is named.
  EXPECT_ERROR_MENTIONS(training::OutputLock(dir.path / "no/such/run.lock", "the run folder"),
                        "no/such/run.lock");
}

TEST(FileSafety, PartialFoldersOfInterruptedRunsAreRemovedForeignOnesNever) {
  TempDir dir("file_safety_partial");
  const fs::path partial = dir.path / "kept.partial", out = dir.path / "kept";
  EXPECT_EQ(training::start_partial_folder(partial, "BUILDING", "build_augmented", "busy\n"), "");
  EXPECT_EQ(read_file((partial / "BUILDING").string()), "busy\n");
  write_file_atomically((partial / "image.png").string(), "x");
  // An interrupted run's folder (marked) is removed and started afresh.
  const std::string note = training::start_partial_folder(partial, "BUILDING", "build_augmented", "");
  EXPECT_NE(note.find("removed the incomplete " + partial.string()), std::string::npos) << note;
  EXPECT_EQ(files_in(partial), std::vector<std::string>{"BUILDING"});
  // A marker that cannot be written (a full disk) takes the new folder back with it, so it
  // cannot block the next run.
  fs::remove_all(partial);
  EXPECT_NE(error_under_small_limit([&] {
              training::start_partial_folder(partial, "BUILDING", "build_augmented",
                                             std::string(10000, 'm'));
            }).find("BUILDING"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_EQ(training::start_partial_folder(partial, "BUILDING", "build_augmented", ""), "");
  // A folder without the marker is not ours, even an empty one: refused, and left as it was.
  fs::create_directories(dir.path / "empty.partial");
  EXPECT_ERROR_MENTIONS(
      training::start_partial_folder(dir.path / "empty.partial", "BUILDING", "generate", ""),
      "was not written by generate");
  EXPECT_TRUE(fs::is_directory(dir.path / "empty.partial"));
  const fs::path foreign = dir.path / "mine.partial";
  fs::create_directories(foreign);
  write_file_atomically((foreign / "precious.txt").string(), "keep me");
  testing::expect_error(
      [&] { training::start_partial_folder(foreign, "BUILDING", "build_augmented", ""); },
      {foreign.string(), "was not written by build_augmented"});
  EXPECT_EQ(read_file((foreign / "precious.txt").string()), "keep me");
  // Finished: renamed, without the marker.
  training::finish_partial_folder(partial, out, "BUILDING");
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_EQ(files_in(out), std::vector<std::string>{});
}

}  // namespace
}  // namespace ember
