// The profiler's recorder (contract in tensor/profiler.h): one per recording thread, holding the
// events in the order they began; GPU ops also hold their two marks (tensor/profiler_gpu.h),
// turned into GPU-track events when the session stops.
#include "tensor/profiler.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <regex>

#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/graph_capture.h"
#include "tensor/profiler_gpu.h"
#include "tensor/shape.h"
#include "tensor/tensor.h"

namespace ember::profiler {

using Clock = std::chrono::steady_clock;

namespace {
uint64_t this_thread_number() {
  static std::atomic<uint64_t> next{1};
  thread_local const uint64_t number = next++;
  return number;
}
}  // namespace

class detail::Recorder {
 public:
  struct GpuOp {
    size_t event;
    int device;
    int64_t begin_mark, end_mark = -1;
  };

  double now_us() const {
    return std::chrono::duration<double, std::micro>(Clock::now() - start_).count();
  }

  int64_t begin(const char* name, Kind kind, const Tensor* t, const Device& device) {
    // A capture records the GPU work, not its host side: nothing here would be true of a replay.
    if (graph::capturing()) return -1;
    if (kind == Kind::kRange) {
      for (const char* open : open_ranges_)
        if (std::strcmp(open, name) == 0) return -1;
      open_ranges_.push_back(name);
    }
    const Device dev = t ? t->device() : device;
    Event e;
    e.name = name;
    e.kind = kind;
    e.device = dev.str();
    if (t) {
      e.shape = shape_str(t->shape());
      e.dtype = dtype_name(t->dtype());
    }
    e.start_us = now_us();
    const int64_t index = static_cast<int64_t>(events_.size());
    events_.push_back(std::move(e));
    gpu_slot_.push_back(-1);
    if (kind == Kind::kOp && dev.is_cuda()) {
      gpu_slot_.back() = static_cast<int64_t>(gpu_ops_.size());
      gpu_ops_.push_back({static_cast<size_t>(index), dev.index, gpu::mark(dev.index)});
    }
    return index;
  }

  void end(int64_t index) {
    if (index >= static_cast<int64_t>(events_.size())) return;
    Event& e = events_[index];
    if (gpu_slot_[index] >= 0) {
      GpuOp& op = gpu_ops_[gpu_slot_[index]];
      op.end_mark = gpu::mark(op.device);
    }
    e.dur_us = now_us() - e.start_us;
    if (e.kind == Kind::kRange && !open_ranges_.empty()) open_ranges_.pop_back();
  }

  Trace finish() {
    Trace trace;
    trace.host_span_us = now_us();
    trace.thread = this_thread_number();
    trace.events = std::move(events_);
    const std::vector<gpu::MarkTime> marks = gpu::resolve();
    // Each device's GPU axis starts at its first mark; place that at the host time of the op
    // that recorded it (the GPU ran it then or later, so GPU bars may start early, never late).
    std::vector<double> offset;
    double first = 0, last = 0;
    const size_t host_events = trace.events.size();
    for (const GpuOp& op : gpu_ops_) {
      if (op.end_mark < 0) continue;  // still open at stop
      if (static_cast<size_t>(op.device) >= offset.size()) offset.resize(op.device + 1, -1.0);
      if (offset[op.device] < 0) offset[op.device] = trace.events[op.event].start_us;
      Event g = trace.events[op.event];
      g.track = Track::kGpu;
      g.start_us = offset[op.device] + marks[op.begin_mark].us;
      g.dur_us = marks[op.end_mark].us - marks[op.begin_mark].us;
      if (trace.events.size() == host_events || g.start_us < first) first = g.start_us;
      last = std::max(last, g.start_us + g.dur_us);
      trace.events.push_back(std::move(g));
    }
    if (trace.events.size() > host_events) trace.gpu_span_us = last - first;
    return trace;
  }

 private:
  Clock::time_point start_ = Clock::now();
  std::vector<Event> events_;
  std::vector<int64_t> gpu_slot_;  // per event: its index in gpu_ops_, or -1
  std::vector<GpuOp> gpu_ops_;
  std::vector<const char*> open_ranges_;
};

int64_t detail::begin(const char* name, Kind kind, const Tensor* t, const Device& device) {
  return active->begin(name, kind, t, device);
}

void detail::end(int64_t index) {
  if (active) active->end(index);
}

Session::Session() : recorder_(nullptr) {
  EMBER_CHECK(!detail::active, "profiler::Session: this thread is already recording");
  gpu::discard();
  recorder_ = new detail::Recorder();
  detail::active = recorder_;
}

Session::~Session() {
  if (!recorder_) return;
  detail::active = nullptr;
  delete recorder_;
  gpu::discard();
}

Trace Session::stop() {
  EMBER_CHECK(recorder_, "profiler::Session::stop: the session was already stopped");
  detail::active = nullptr;
  detail::Recorder* r = recorder_;
  recorder_ = nullptr;
  try {
    Trace trace = r->finish();
    delete r;
    return trace;
  } catch (...) {
    delete r;
    gpu::discard();
    throw;
  }
}

std::optional<Settings> parse_settings(const char* profile, const char* steps) {
  if (!profile) {
    EMBER_CHECK(!steps, "EMBER_PROFILE_STEPS=", steps,
                " is set but EMBER_PROFILE is not: set EMBER_PROFILE=<path.json> to record");
    return std::nullopt;
  }
  Settings s;
  s.path = profile;
  EMBER_CHECK(s.path.extension() == ".json", "EMBER_PROFILE=", profile,
              ": expected the path of the trace to write, ending in .json");
  if (!steps) return s;
  static const std::regex form(R"(^([0-9]{1,12})(?:-([0-9]{1,12}))?$)");
  std::cmatch m;
  EMBER_CHECK(std::regex_match(steps, m, form), "EMBER_PROFILE_STEPS=", steps,
              ": expected N (one step) or A-B (steps A to B), counted from 1");
  s.first_step = std::stoll(m[1].str());
  s.last_step = m[2].matched ? std::stoll(m[2].str()) : s.first_step;
  EMBER_CHECK(s.first_step >= 1 && s.first_step <= s.last_step, "EMBER_PROFILE_STEPS=", steps,
              ": expected 1 <= A <= B (steps are counted from 1)");
  return s;
}

std::optional<Settings> settings_from_env() {
  return parse_settings(std::getenv("EMBER_PROFILE"), std::getenv("EMBER_PROFILE_STEPS"));
}

}  // namespace ember::profiler
