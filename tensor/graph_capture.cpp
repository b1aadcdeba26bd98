// The per-thread capture state of tensor/graph_capture.h.
#include "tensor/graph_capture.h"

#include <utility>

#include "tensor/error.h"

namespace ember::graph {

namespace {

struct CaptureState {
  bool open = false;
  int device = -1;
  ReplayActions actions;
};

// Thread-local like the capture itself (cudaStreamCaptureModeThreadLocal): a loader thread
// working beside a capture neither sees it nor is refused anything.
thread_local CaptureState state;

}  // namespace

bool capturing() { return state.open; }
int capture_device() { return state.open ? state.device : -1; }

void before_each_replay(std::function<void()> action) {
  EMBER_CHECK(state.open, "graph::before_each_replay: no CUDA graph is being captured on this thread");
  state.actions.before.push_back(std::move(action));
}

void after_each_replay(std::function<void()> action) {
  EMBER_CHECK(state.open, "graph::after_each_replay: no CUDA graph is being captured on this thread");
  state.actions.after.push_back(std::move(action));
}

void check_not_capturing(const char* what) {
  EMBER_CHECK(!state.open, what,
              " cannot be part of a CUDA graph: a replay repeats only the GPU work recorded at "
              "capture. Keep it out of the captured step, or run the step without graphs "
              "(--cuda-graphs off)");
}

void fail_cpu_kernel_in_capture(const char* op) {
  EMBER_FAIL("the CPU kernel ", op, " ran while a CUDA graph was being captured on this thread: "
             "a replay would not run it again. Every tensor of a captured step must be on the "
             "graph's device (cuda:", state.device, "), or run the step without graphs "
             "(--cuda-graphs off)");
}

void begin_capture(int device) {
  EMBER_CHECK(!state.open, "graph::begin_capture: a CUDA graph is already being captured on this "
              "thread (captures do not nest)");
  state = CaptureState{.open = true, .device = device, .actions = {}};
}

ReplayActions end_capture() {
  ReplayActions actions = std::move(state.actions);
  state = CaptureState{};
  return actions;
}

}  // namespace ember::graph
