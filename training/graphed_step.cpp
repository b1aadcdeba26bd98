// GraphedStep (training/graphed_step.h): eager warm-up, capture per input shape, replay.
#include "training/graphed_step.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#include "autograd/grad_mode.h"
#include "tensor/block_pool.h"
#include "tensor/error.h"

namespace ember::training {

std::string cuda_graphs_unavailable_reason(const Device& device) {
  if (!device.is_cuda()) return "steps on " + device.str() + " run eagerly (graphs are for CUDA)";
  if (!cuda_graphs_available()) return "this build or machine has no CUDA device";
  const char* mode = std::getenv("EMBER_CUDA_ALLOCATOR");
  if (memory::parse_allocator_mode(mode) != memory::AllocatorMode::Caching)
    return std::string("EMBER_CUDA_ALLOCATOR=") + mode +
           " (a graph's private memory pool needs the caching allocator)";
  const char* sync = std::getenv("EMBER_CUDA_SYNC");
  if (sync && *sync && std::strcmp(sync, "0") != 0)
    return "EMBER_CUDA_SYNC is set (a capture cannot synchronise after every launch)";
  return "";
}

GraphedStep::GraphedStep(GraphedStepOptions options) : options_(std::move(options)) {
  EMBER_CHECK(options_.warmup_steps >= 1, "GraphedStep: warmup_steps must be >= 1 (the first "
              "step creates state lazily, which a capture cannot), got ", options_.warmup_steps);
  if (options_.enabled) unavailable_reason_ = cuda_graphs_unavailable_reason(options_.device);
}

// The key: every input's dtype and shape, each shape preceded by its rank.
std::vector<int64_t> GraphedStep::key_of(const std::vector<Tensor>& inputs) {
  std::vector<int64_t> key;
  for (const Tensor& t : inputs) {
    key.push_back(static_cast<int64_t>(t.dtype()));
    key.push_back(t.dim());
    for (int64_t size : t.shape()) key.push_back(size);
  }
  return key;
}

std::vector<Tensor> GraphedStep::run(const std::vector<Tensor>& inputs, const Body& body) {
  if (!replaying()) return body(inputs);
  for (size_t i = 0; i < inputs.size(); ++i)
    EMBER_CHECK(inputs[i].defined() && inputs[i].device() == options_.device,
                "GraphedStep: input ", i, " must be defined and on ", options_.device.str(),
                " (the device the step is captured on), got ",
                inputs[i].defined() ? inputs[i].describe() : std::string("an undefined tensor"));
  Shape& shape = shapes_[key_of(inputs)];
  if (shape.eager_steps < options_.warmup_steps) {
    ++shape.eager_steps;
    return body(inputs);
  }
  if (shape.inputs.empty()) {
    NoGradGuard no_grad;  // the buffers are plain storage, outside any autograd graph
    for (const Tensor& t : inputs) shape.inputs.push_back(empty_like(t));
  }
  {
    NoGradGuard no_grad;
    for (size_t i = 0; i < inputs.size(); ++i) copy_(shape.inputs[i], inputs[i]);
  }
  if (!shape.graph) {
    auto graph = std::make_unique<CudaGraph>();
    std::vector<Tensor> outputs;
    graph->capture(options_.device.index, [&] { outputs = body(shape.inputs); });
    shape.graph = std::move(graph);
    shape.outputs = std::move(outputs);
    ++captures_;
  }
  shape.graph->replay();
  ++replays_;
  return shape.outputs;
}

size_t GraphedStep::graph_nodes() const {
  size_t nodes = 0;
  for (const auto& [key, shape] : shapes_)
    if (shape.graph) nodes += shape.graph->num_nodes();
  return nodes;
}

}  // namespace ember::training
