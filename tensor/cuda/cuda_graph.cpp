// CudaGraph on the CUDA runtime (tensor/cuda_graph.h): stream capture of the compute stream in
// thread-local mode, allocation routed to a private pool while capturing, instantiation, replay.
#include <exception>
#include <functional>
#include <string>
#include <utility>

#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"
#include "tensor/cuda_graph.h"
#include "tensor/device.h"
#include "tensor/dispatch_count.h"
#include "tensor/graph_capture.h"
#include "tensor/memory.h"
#include "tensor/profiler.h"

namespace ember {

struct CudaGraph::State {
  int device = -1;
  uint64_t pool = 0;  // the private pool's id on `device`; 0: none open
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  size_t num_nodes = 0;
  graph::ReplayActions actions;
};

namespace {

// Closes everything a capture opened, whatever state it got to; never throws (it runs while an
// error propagates). The stream's capture is ended (and its partial graph dropped) if still open.
void abandon_capture(cudaStream_t stream, int device, uint64_t pool) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &status) == cudaSuccess &&
      status != cudaStreamCaptureStatusNone) {
    cudaGraph_t partial = nullptr;
    if (cudaStreamEndCapture(stream, &partial) == cudaSuccess && partial) cudaGraphDestroy(partial);
  }
  cudaGetLastError();  // an invalidated capture leaves its error behind: it is reported already
  graph::end_capture();
  try {
    cuda_graph_pool_route(device, 0);
    if (pool != 0) cuda_graph_pool_release(device, pool);
  } catch (...) {
    // The pool calls only fail for a bad device, which capture() checked before opening it.
  }
}

std::string capture_failure_hint(cudaError_t status) {
  switch (status) {
    case cudaErrorStreamCaptureInvalidated:
    case cudaErrorStreamCaptureUnsupported:
    case cudaErrorStreamCaptureImplicit:
      return "; something in the step made a call CUDA forbids during capture (a synchronisation, "
             "a query of the stream, a copy from pageable host memory): run the step with "
             "EMBER_CUDA_SYNC unset and graphs off to find it";
    default:
      return "";
  }
}

}  // namespace

CudaGraph::CudaGraph() : state_(std::make_unique<State>()) {}

CudaGraph::~CudaGraph() {
  if (state_->exec) cudaGraphExecDestroy(state_->exec);
  if (state_->graph) cudaGraphDestroy(state_->graph);
  if (state_->pool != 0) {
    try {
      cuda_graph_pool_release(state_->device, state_->pool);
    } catch (...) {
      // Destructors must not throw; the pool stays reserved until the process ends.
    }
  }
}

void CudaGraph::capture(int device, const std::function<void()>& body) {
  EMBER_CHECK(!captured() && state_->pool == 0, "CudaGraph::capture: this graph is already captured "
              "(a graph is captured once; make a new one for another shape)");
  EMBER_CHECK(device >= 0 && device < cuda_device_count(), "CudaGraph::capture: no device cuda:",
              device, " (", cuda_device_count(), " CUDA device(s) visible)");
  EMBER_CHECK(!cuda::sync_mode(), "CudaGraph::capture: EMBER_CUDA_SYNC is set, and a capture "
              "cannot synchronise after every launch; unset it or run without graphs");
  EMBER_CHECK(!graph::capturing(), "CudaGraph::capture: this thread is already capturing a graph "
              "(captures do not nest)");
  cuda::DeviceGuard guard(device);
  const cudaStream_t stream = cuda::compute_stream(device);
  // Work queued before the capture (the warm-up steps) finishes first, so a failure inside it is
  // reported here rather than blamed on the capture.
  EMBER_CUDA_CHECK(cudaStreamSynchronize(stream));
  state_->device = device;
  state_->pool = cuda_graph_pool_open(device);  // refuses the direct and deferred allocator modes
  graph::begin_capture(device);
  try {
    cuda_graph_pool_route(device, state_->pool);
    EMBER_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    body();
    cudaGraph_t captured_graph = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(stream, &captured_graph);
    if (ended != cudaSuccess) {
      cudaGetLastError();
      EMBER_FAIL("CudaGraph::capture: CUDA refused the captured work: cudaStreamEndCapture: ",
                 cudaGetErrorName(ended), " (", cudaGetErrorString(ended), ")",
                 capture_failure_hint(ended));
    }
    state_->graph = captured_graph;
  } catch (...) {
    const uint64_t pool = state_->pool;
    state_->pool = 0;
    if (state_->graph) {
      cudaGraphDestroy(state_->graph);
      state_->graph = nullptr;
    }
    abandon_capture(stream, device, pool);
    throw;
  }
  cuda_graph_pool_route(device, 0);
  state_->actions = graph::end_capture();
  EMBER_CUDA_CHECK(cudaGraphGetNodes(state_->graph, nullptr, &state_->num_nodes));
  EMBER_CUDA_CHECK(cudaGraphInstantiate(&state_->exec, state_->graph, 0));
  // Uploading now makes the first replay cost what the others do.
  EMBER_CUDA_CHECK(cudaGraphUpload(state_->exec, stream));
}

void CudaGraph::replay() {
  EMBER_CHECK(captured(), "CudaGraph::replay: nothing was captured");
  graph::check_not_capturing("replaying a CUDA graph");
  cuda::DeviceGuard guard(state_->device);
  // One op in a profile (tensor/profiler.h): the graph's kernels are not seen one by one.
  const profiler::OpScope op_scope("graph replay", Device::cuda(state_->device));
  for (const auto& action : state_->actions.before) action();
  EMBER_CUDA_CHECK(cudaGraphLaunch(state_->exec, cuda::compute_stream(state_->device)));
  count_kernel_launch();  // the whole graph is one launch
  for (const auto& action : state_->actions.after) action();
}

bool CudaGraph::captured() const { return state_->exec != nullptr; }
int CudaGraph::device() const { return state_->device; }
size_t CudaGraph::num_nodes() const { return state_->num_nodes; }

bool cuda_graphs_available() { return cuda_device_count() > 0; }

}  // namespace ember
