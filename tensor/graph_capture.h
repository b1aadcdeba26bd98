// The host side of CUDA-graph capture, in every build: whether this thread is capturing, and the
// host bookkeeping a replay must repeat. A captured step runs its host code once, at capture;
// a replay runs only the recorded GPU work. Host state that a step changes (an optimizer's step
// counts, a random generator's offset, a weight average's update count) would then stand still,
// so the code that changes it registers, while capturing, an action that every replay repeats:
// before the replay (write a value the graph reads from device memory) or after it (advance a
// host mirror). Code that cannot be repeated by a replay (a CPU kernel, a copy from host memory,
// a value read back to the host) calls check_not_capturing and fails naming itself.
// The CUDA side (stream capture, instantiation, replay, the private memory pool) is
// tensor/cuda_graph.h; the design is in docs/cuda_graphs.md.
#pragma once
#include <functional>
#include <vector>

namespace ember::graph {

// Whether this thread is capturing a CUDA graph now.
bool capturing();
// The CUDA device of this thread's capture; -1 when not capturing.
int capture_device();

// While capturing: actions every replay of the graph runs on the host, in registration order,
// before or after launching the graph. Throw when not capturing.
void before_each_replay(std::function<void()> action);
void after_each_replay(std::function<void()> action);

// Throws ember::Error "<what> cannot be part of a CUDA graph (...)" while this thread captures.
void check_not_capturing(const char* what);
// The device dispatch's check before a CPU kernel (kernels/dispatch.h): a CPU kernel queued in a
// captured step would run once, at capture, and never again.
[[noreturn]] void fail_cpu_kernel_in_capture(const char* op);
inline void check_cpu_kernel(const char* op) {
  if (capturing()) fail_cpu_kernel_in_capture(op);
}

// For tensor/cuda_graph.cpp and the tests: the capture state of this thread. begin_capture
// throws when a capture is already open on this thread; end_capture hands over the actions
// registered since begin_capture (and closes the state even when the capture failed).
struct ReplayActions {
  std::vector<std::function<void()>> before, after;
};
void begin_capture(int device);
ReplayActions end_capture();

}  // namespace ember::graph
