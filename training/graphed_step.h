// GraphedStep: runs a training step per batch, eagerly or, on CUDA, replayed from a CUDA graph
// captured once per batch shape (tensor/cuda_graph.h).
//
//   GraphedStep step({.enabled = use_graphs, .device = device});
//   std::vector<Tensor> out = step.run({images, labels}, [&](const std::vector<Tensor>& in) {
//     ... forward on in[0], in[1], backward, optimizer step ...
//     return std::vector<Tensor>{loss, correct};
//   });
//
// For each input shape, the first `warmup_steps` calls run the body eagerly on the batch itself:
// they create what the step creates lazily (an optimizer's state, cuDNN's algorithm choices,
// library handles), which a capture could not. The next call copies the batch into fixed input
// buffers, captures the body on them and replays it once; later calls copy and replay. The
// returned tensors are the body's outputs; after a replay they live in the graph's memory and
// hold the latest step's values until the next call overwrites them, so read them (or add them
// up on the device) before the next run.
//
// The body must be the same GPU work every time: every tensor it reads that outlives a step (the
// parameters, the optimizer's state, class weights) must stay the same tensor (in place updates
// only) for as long as this object lives, and it may not copy to or from the host (a value read
// back, a CPU op): the capture fails naming it. Host state the step changes is repeated by the
// replays where the library knows it (optimizer counts, weight averages, random generators);
// anything else the body changes on the host happens once, at capture.
//
// With enabled = false (or on the CPU) run() just calls the body on the batch. So it does, with
// the reason in unavailable_reason(), when the process runs a debug mode a capture cannot work
// under: the allocator's direct or deferred mode (EMBER_CUDA_ALLOCATOR, for compute-sanitizer
// and the reuse check) or EMBER_CUDA_SYNC. The trainers log that reason.
// Tested by tests/test_graphed_step.cpp (the eager path on the CPU, the replays on a GPU).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tensor/cuda_graph.h"
#include "tensor/tensor.h"

namespace ember::training {

// Why CUDA graphs cannot be used for steps on `device` in this process ("" when they can): the
// CPU, no CUDA device, or a debug mode (EMBER_CUDA_ALLOCATOR=direct|deferred, EMBER_CUDA_SYNC).
std::string cuda_graphs_unavailable_reason(const Device& device);

struct GraphedStepOptions {
  bool enabled = false;  // capture and replay (CUDA devices only; ignored on the CPU)
  Device device = Device::cpu();
  int64_t warmup_steps = 2;  // eager steps per input shape before the capture (>= 1)
};

class GraphedStep {
 public:
  using Body = std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs)>;

  explicit GraphedStep(GraphedStepOptions options);
  GraphedStep(const GraphedStep&) = delete;
  GraphedStep& operator=(const GraphedStep&) = delete;

  std::vector<Tensor> run(const std::vector<Tensor>& inputs, const Body& body);

  // Whether steps are captured and replayed: asked for, and possible (unavailable_reason()).
  bool replaying() const { return options_.enabled && unavailable_reason_.empty(); }
  // Why graphs are not used although asked for ("" when they are, or were not asked for).
  const std::string& unavailable_reason() const { return unavailable_reason_; }
  int64_t warmup_steps() const { return options_.warmup_steps; }
  int64_t captures() const { return captures_; }  // graphs captured so far (one per shape)
  int64_t replays() const { return replays_; }
  size_t graph_nodes() const;  // nodes of the graphs captured so far, summed

 private:
  // One input shape's state: eager steps so far, then its fixed buffers, graph and outputs.
  struct Shape {
    int64_t eager_steps = 0;
    std::vector<Tensor> inputs;
    std::unique_ptr<CudaGraph> graph;
    std::vector<Tensor> outputs;
  };
  static std::vector<int64_t> key_of(const std::vector<Tensor>& inputs);

  GraphedStepOptions options_;
  std::string unavailable_reason_;
  std::map<std::vector<int64_t>, Shape> shapes_;
  int64_t captures_ = 0, replays_ = 0;
};

}  // namespace ember::training
