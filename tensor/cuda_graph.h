// CudaGraph: the GPU work of one piece of host code, captured once from a device's compute
// stream and replayed on demand with one launch. Declared in every build; in a CPU-only build
// capture() throws a clear error.
//
// What a capture is (docs/cuda_graphs.md has the design and the rules):
// - capture(device, body) runs `body` once on the host. The kernels, library calls and copies it
//   queues on the device's compute stream are recorded, not run. Capture is thread-local
//   (cudaStreamCaptureModeThreadLocal): a loader thread allocating and querying pinned memory
//   meanwhile is neither refused nor recorded.
// - Every device allocation made while capturing comes from a memory pool private to this graph
//   (tensor/memory.h, cuda_graph_pool_*), so no other tensor is ever handed the addresses the
//   graph writes. The pool lives as long as the graph, and longer while tensors allocated in the
//   capture (the step's outputs, the gradients) are still held.
// - replay() runs the host actions registered during the capture (tensor/graph_capture.h: the
//   random generator's device state before, optimizer counters after), then launches the graph.
// - Host work that a replay cannot repeat fails the capture naming itself: CPU kernels, copies
//   to or from host memory, reading a value back.
// Tested by tests/test_cuda_graph.cpp (GPU; the host-side rules also on the CPU).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace ember {

class CudaGraph {
 public:
  CudaGraph();
  ~CudaGraph();  // destroys the executable graph and releases its private pool
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Captures the GPU work `body` queues on cuda:<device>. Once per graph. If body throws (or
  // CUDA refuses the capture), the capture is abandoned, the graph stays empty and the error
  // propagates, naming the cause.
  void capture(int device, const std::function<void()>& body);
  // Runs the registered host actions and launches the graph on the device's compute stream. Does
  // not wait for it.
  void replay();

  bool captured() const;
  int device() const;
  size_t num_nodes() const;  // nodes of the captured graph (kernels, copies, memsets)

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Whether CUDA graphs can run here: a CUDA build with at least one visible device.
bool cuda_graphs_available();

}  // namespace ember
