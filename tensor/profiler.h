// The profiler: while a Session is alive on a thread, every op that thread dispatches is recorded
// (name, device, the deciding tensor's shape and dtype, host start and duration), with the
// ranges the code marks (a training step, forward, backward, the optimizer's step) around them.
// On a CUDA device each op also gets a pair of CUDA events on the compute stream, resolved into
// GPU times when the session stops (tensor/profiler_gpu.h): a second track beside the host's.
// While this thread captures a CUDA graph nothing is recorded (a capture must neither read the
// host clock into the graph nor record events into it); a replay is one op, "graph replay".
//
//   ember::profiler::Session session;            // records this thread from now
//   train_step();
//   ember::profiler::write(session.stop(), "step.json");   // + step.csv (tensor/profile_output.h)
//
// Off (no session), an op costs one predictable branch on a thread-local pointer, in OpScope's
// constructor, and one on a member in its destructor. The environment switch the apps honour is
// EMBER_PROFILE=<path.json> with EMBER_PROFILE_STEPS (settings_from_env below; docs/profiler.md).
// Tested in tests/test_profiler.cpp (CPU) and tests/test_cuda_profiler.cpp (GPU).
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tensor/device.h"

namespace ember {
class Tensor;
}

namespace ember::profiler {

enum class Kind { kOp, kRange };
enum class Track { kHost, kGpu };

// One recorded interval, in microseconds since the session started (GPU events are placed on
// the host's time axis: docs/profiler.md says how).
struct Event {
  std::string name;
  Kind kind = Kind::kOp;
  Track track = Track::kHost;
  double start_us = 0, dur_us = 0;
  std::string device;  // "cpu", "cuda:0"
  std::string shape;   // "[32, 64, 64, 3]"; "" for ranges and shapeless ops
  std::string dtype;   // "float32"; "" likewise
};

struct Trace {
  std::vector<Event> events;  // host events in the order they began, then the GPU events
  double host_span_us = 0;    // from the session's start to its stop
  double gpu_span_us = 0;     // from the first GPU mark to the last (0 without GPU ops)
  uint64_t thread = 0;        // a number naming the recorded host thread
};

namespace detail {
class Recorder;
inline thread_local Recorder* active = nullptr;  // this thread's recording session, if any
int64_t begin(const char* name, Kind kind, const Tensor* t, const Device& device);
void end(int64_t index);
}  // namespace detail

// One op: constructed by the dispatch macros (kernels/dispatch.h) and tensor/copy.cpp just after
// count_dispatch, alive for the kernel call.
class OpScope {
 public:
  OpScope(const char* name, const Tensor& t) {
    if (detail::active) [[unlikely]]
      index_ = detail::begin(name, Kind::kOp, &t, Device::cpu());
  }
  // An op with no deciding tensor (a graph replay on `device`).
  OpScope(const char* name, const Device& device) {
    if (detail::active) [[unlikely]]
      index_ = detail::begin(name, Kind::kOp, nullptr, device);
  }
  ~OpScope() {
    if (index_ >= 0) [[unlikely]] detail::end(index_);
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  int64_t index_ = -1;
};

// A marked range (host track). A range opened while one of the same name is open on this thread
// records nothing: a module's forward calling its children's is one "forward".
class Range {
 public:
  explicit Range(const char* name) {
    if (detail::active) [[unlikely]]
      index_ = detail::begin(name, Kind::kRange, nullptr, Device::cpu());
  }
  ~Range() {
    if (index_ >= 0) [[unlikely]] detail::end(index_);
  }
  Range(const Range&) = delete;
  Range& operator=(const Range&) = delete;

 private:
  int64_t index_ = -1;
};

// Records this thread while alive. One session per thread at a time (a second throws).
class Session {
 public:
  Session();
  ~Session();  // stops, discarding the trace, if stop() was not called
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Stops recording, waits for the GPU marks and returns the trace. Once.
  Trace stop();
  bool recording() const { return recorder_ != nullptr; }

 private:
  detail::Recorder* recorder_;
};

// Whether a session records on this thread now.
inline bool recording() { return detail::active != nullptr; }

// The environment switch: EMBER_PROFILE=<path.json> turns recording on for the steps
// EMBER_PROFILE_STEPS chooses: "N" (step N alone) or "A-B" (steps A to B), 1-based, counted
// over the run; unset means "5" (past a CUDA graph's warm-up and capture).
struct Settings {
  std::filesystem::path path;
  int64_t first_step = 5, last_step = 5;
};
// Parses the two values (null: unset). Throws ember::Error naming the variable on a bad value.
std::optional<Settings> parse_settings(const char* profile, const char* steps);
// parse_settings(getenv("EMBER_PROFILE"), getenv("EMBER_PROFILE_STEPS")); nullopt when unset.
std::optional<Settings> settings_from_env();

}  // namespace ember::profiler
