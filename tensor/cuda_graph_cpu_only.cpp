// CPU-only build: CudaGraph exists so callers compile, but there is nothing to capture.
#ifndef EMBER_WITH_CUDA
#include <functional>

#include "tensor/cuda_graph.h"
#include "tensor/error.h"
#include "tensor/graph_capture.h"

namespace ember {

struct CudaGraph::State {};

CudaGraph::CudaGraph() = default;
CudaGraph::~CudaGraph() = default;

void CudaGraph::capture(int device, const std::function<void()>&) {
  EMBER_FAIL("CudaGraph::capture(cuda:", device, "): this build has no CUDA backend ",
             "(configure with -DEMBER_CUDA=ON, or run the step without graphs)");
}
void CudaGraph::replay() { EMBER_FAIL("CudaGraph::replay: nothing was captured"); }
bool CudaGraph::captured() const { return false; }
int CudaGraph::device() const { return -1; }
size_t CudaGraph::num_nodes() const { return 0; }

bool cuda_graphs_available() { return false; }

}  // namespace ember
#endif
