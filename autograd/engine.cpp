// The backward engine: runs the recorded graph from the outputs back to the leaves. engine.h
// states the contract; docs/autograd.md the design. One pass (GraphTask::run) has five steps:
//
//   1. Mark what is needed (mark_needed): a depth-first walk from the roots. A node is needed
//      when a requested input's gradient flows through it: for backward() every node, for
//      grad() only the nodes on a path to a captured input. Unneeded branches never run.
//   2. Count dependencies (count_dependencies): for each needed node, how many needed nodes
//      will send it a gradient. A node may run only when that count reaches zero, i.e. when
//      every use of its outputs has contributed.
//   3. Seed the roots (add_to_buffer): the output gradients (ones for a scalar) go into the
//      roots' input buffers, and the roots with no pending dependencies are queued.
//   4. Run nodes in order (execute): the ready node recorded last runs first, so a graph is
//      walked in the reverse of the order the forward pass built it, as PyTorch does. Each node
//      receives the sum of the gradients its outputs got (missing ones become zeros), applies
//      its backward function, and adds each result into the buffer of the node it came from.
//   5. Hand back: grad() returns the captured gradients; backward() has added into the leaves'
//      .grad through their AccumulateGrad nodes, and into retain_grad() tensors.
//
// With create_graph the backward functions run with grad mode on, so the gradients they
// return are themselves recorded and can be differentiated again (double backward).
#include "autograd/engine.h"

#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "ops/elementwise.h"
#include "tensor/profiler.h"

namespace ember {

namespace {

// Stands in for the gradient function of results produced by a node without double-backward
// support while create_graph was on. Reaching it in a later backward pass is an error, so a
// second derivative through such an op fails loudly instead of silently being zero.
class NoDoubleBackward final : public Node {
 public:
  explicit NoDoubleBackward(std::string op) : op_(std::move(op)) {}
  std::string name() const override { return "NoDoubleBackward(" + op_ + ")"; }
  TensorList apply(const TensorList&) override {
    EMBER_FAIL(op_, " does not support double backward: a second derivative was requested "
               "through it (create_graph=true). Use an op with double-backward support or "
               "detach this path.");
  }

 private:
  std::string op_;
};

// Returns g detached, with a NoDoubleBackward as its grad_fn, wired to the producer's inputs and
// to the incoming gradients so that the error is raised only if a later pass really reaches it.
Tensor attach_no_double_backward(const Tensor& g, const Node& producer, const TensorList& grads) {
  auto guard = std::make_shared<NoDoubleBackward>(producer.name());
  guard->next_edges = producer.next_edges;
  for (const Tensor& in : grads) guard->next_edges.push_back(gradient_edge(in));
  Tensor out = g.detach();
  out.impl()->autograd.requires_grad = true;
  out.impl()->autograd.grad_fn = guard;
  guard->outputs.push_back({g.shape(), g.dtype(), g.device()});
  return out;
}

// Non-leaf tensors that asked to retain their gradient, by their grad_fn and output slot.
using RetainRegistry =
    std::unordered_map<Node*, std::vector<std::pair<uint32_t, std::weak_ptr<TensorImpl>>>>;
RetainRegistry& retain_registry() {
  static thread_local RetainRegistry registry;
  return registry;
}

// Priority of the ready queue: the node created last (highest sequence number) runs first.
struct ByLatestFirst {
  bool operator()(const Node* a, const Node* b) const { return a->sequence_nr < b->sequence_nr; }
};

// grad() asks for the gradient arriving at one input slot of a node (a leaf's AccumulateGrad,
// or the grad_fn of a non-leaf input); `result` is its position in grad()'s answer.
struct Capture {
  uint32_t slot;
  size_t result;
};

// One backward pass over one graph: the five steps at the top of this file.

class GraphTask {
 public:
  GraphTask(bool keep_graph, bool create_graph, bool accumulate)
      : keep_graph_(keep_graph), create_graph_(create_graph), accumulate_(accumulate) {}

  void add_capture(const Edge& edge, size_t result) {
    captures_[edge.node.get()].push_back({edge.input_nr, result});
  }

  TensorList run(const std::vector<Edge>& roots, const TensorList& root_grads, size_t n_results) {
    results_.assign(n_results, Tensor());
    mark_needed(roots);     // step 1
    count_dependencies();   // step 2
    for (size_t i = 0; i < roots.size(); ++i) {  // step 3
      if (needed_.count(roots[i].node.get())) add_to_buffer(roots[i], root_grads[i]);
    }
    std::priority_queue<Node*, std::vector<Node*>, ByLatestFirst> ready;
    std::unordered_set<Node*> queued;
    for (const Edge& r : roots) {
      Node* n = r.node.get();
      if (needed_.count(n) && dependencies_[n] == 0 && queued.insert(n).second) ready.push(n);
    }
    while (!ready.empty()) {  // step 4
      Node* node = ready.top();
      ready.pop();
      execute(node, ready);
    }
    return results_;  // step 5
  }

 private:
  // Step 1. A node is needed when it is captured or leads to a node that is; backward() needs
  // all. An iterative post-order walk (no recursion, so deep graphs cannot overflow the stack):
  // a node is decided after all its children, and nodes_ lists every node reached.
  void mark_needed(const std::vector<Edge>& roots) {
    std::unordered_map<Node*, int> state;  // 1: on the stack, 2: done
    std::vector<std::pair<Node*, size_t>> stack;
    for (const Edge& r : roots) {
      if (state[r.node.get()]) continue;
      stack.push_back({r.node.get(), 0});
      state[r.node.get()] = 1;
      while (!stack.empty()) {
        auto& [node, next] = stack.back();
        if (next < node->next_edges.size()) {
          Node* child = node->next_edges[next++].node.get();
          if (child && !state[child]) { state[child] = 1; stack.push_back({child, 0}); }
          continue;
        }
        bool needed = accumulate_ || captures_.count(node);
        for (const Edge& e : node->next_edges) needed = needed || (e.node && needed_.count(e.node.get()));
        if (needed) needed_.insert(node);
        nodes_.push_back(node);
        state[node] = 2;
        stack.pop_back();
      }
    }
  }

  // Step 2. dependencies_[n]: how many needed nodes will send n a gradient.
  void count_dependencies() {
    for (Node* node : nodes_) {
      if (!needed_.count(node)) continue;
      for (const Edge& e : node->next_edges)
        if (e.node && needed_.count(e.node.get())) ++dependencies_[e.node.get()];
    }
  }

  // The gradient g for input slot edge.input_nr of edge.node, summed with what is there: a
  // tensor used several times in the forward pass gets the sum of its uses' gradients.
  void add_to_buffer(const Edge& edge, const Tensor& g) {
    TensorList& buffer = buffers_[edge.node.get()];
    buffer.resize(edge.node->outputs.size());
    Tensor& slot = buffer[edge.input_nr];
    slot = slot.defined() ? slot + g : g;
  }

  bool children_needed(const Node* node) const {
    for (const Edge& e : node->next_edges) if (e.node && needed_.count(e.node.get())) return true;
    return false;
  }

  // Step 4 for one node, whose every gradient has arrived: (a) complete its incoming gradients
  // with zeros, (b) hand out what grad() captures here, (c) stop at leaves and dead ends,
  // (d) apply its backward function, (e) pass each result on and queue the nodes that become
  // ready.
  template <typename Queue>
  void execute(Node* node, Queue& ready) {
    // (a) An output nobody used still needs a gradient for the backward formula: zeros.
    TensorList grads = std::move(buffers_[node]);
    buffers_.erase(node);
    grads.resize(node->outputs.size());
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!grads[i].defined()) {
        const OutputMeta& m = node->outputs[i];
        grads[i] = zeros(m.shape, {m.dtype, m.device});
      }
    }
    // (b)
    if (auto it = captures_.find(node); it != captures_.end()) {
      for (const Capture& c : it->second) results_[c.result] = grads[c.slot];
    }
    // (c) An AccumulateGrad adds into its leaf's .grad, which only backward() may do.
    const bool is_accumulator = dynamic_cast<AccumulateGrad*>(node) != nullptr;
    if (accumulate_) retain_non_leaf_grads(node, grads);
    if (is_accumulator && !accumulate_) return;  // grad(): capture only, leave .grad alone
    if (!is_accumulator && !children_needed(node)) return;

    // (d) Recorded (differentiable) only when a second derivative was asked for and the node
    // can give one; otherwise under no-grad, so nothing is recorded and memory is freed early.
    TensorList input_grads;
    {
      const bool differentiable = create_graph_ && node->supports_double_backward();
      GradModeGuard mode(differentiable);
      input_grads = node->apply(grads);
    }
    EMBER_CHECK(is_accumulator || input_grads.size() == node->next_edges.size(), node->name(),
                " returned ", input_grads.size(), " gradients for ", node->next_edges.size(),
                " inputs");
    if (!keep_graph_) node->release_saved();

    // (e) Shapes are checked here, once for every op, so a wrong backward formula is caught at
    // the node that produced it rather than far downstream.
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.node || !needed_.count(e.node.get())) continue;
      Tensor g = input_grads[i];
      if (g.defined()) {
        const OutputMeta& m = e.node->outputs[e.input_nr];
        EMBER_CHECK(g.shape() == m.shape, node->name(), " returned a gradient of shape ",
                    shape_str(g.shape()), " for input ", i, " of shape ", shape_str(m.shape));
        if (create_graph_ && !node->supports_double_backward())
          g = attach_no_double_backward(g, *node, grads);
        add_to_buffer(e, g);
      }
      if (--dependencies_[e.node.get()] == 0) ready.push(e.node.get());
    }
  }

  // Non-leaf tensors that asked for retain_grad() get their gradient while backward() runs.
  void retain_non_leaf_grads(Node* node, const TensorList& grads);

  bool keep_graph_, create_graph_, accumulate_;
  std::unordered_map<Node*, std::vector<Capture>> captures_;
  std::unordered_set<Node*> needed_;
  std::vector<Node*> nodes_;
  std::unordered_map<Node*, int> dependencies_;
  std::unordered_map<Node*, TensorList> buffers_;
  TensorList results_;
};

void GraphTask::retain_non_leaf_grads(Node* node, const TensorList& grads) {
  RetainRegistry& retained = retain_registry();
  auto it = retained.find(node);
  if (it == retained.end()) return;
  for (auto& [slot, weak] : it->second) {
    auto impl = weak.lock();
    if (!impl) continue;
    Tensor& g = impl->autograd.grad;
    // A detached copy unless recording, as AccumulateGrad gives a leaf its first gradient.
    g = g.defined() ? g + grads[slot] : (create_graph_ ? grads[slot] : grads[slot].detach().clone());
  }
}

// The edges the pass starts from: each output's grad_fn (or its AccumulateGrad, for a leaf).
std::vector<Edge> root_edges(const TensorList& outputs, const char* api) {
  std::vector<Edge> roots;
  for (size_t i = 0; i < outputs.size(); ++i) {
    check_defined(outputs[i], api, "outputs");
    EMBER_CHECK(outputs[i].requires_grad(), api, ": output ", i, " (", outputs[i].describe(),
                ") does not require grad and has no grad_fn");
    roots.push_back(gradient_edge(outputs[i]));
  }
  return roots;
}

// The gradient each output starts with: the one given, or 1 for a scalar output.
TensorList root_gradients(const TensorList& outputs, const TensorList& grad_outputs, const char* api) {
  EMBER_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), api, ": ",
              grad_outputs.size(), " grad_outputs given for ", outputs.size(), " outputs");
  TensorList grads;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!grad_outputs.empty() && grad_outputs[i].defined()) {
      EMBER_CHECK(grad_outputs[i].shape() == outputs[i].shape(), api, ": grad_outputs[", i, "] ",
                  grad_outputs[i].describe(), " does not match output ", outputs[i].describe());
      grads.push_back(grad_outputs[i]);
    } else {
      EMBER_CHECK(outputs[i].numel() == 1, api, ": output ", i, " (", outputs[i].describe(),
                  ") is not a scalar, so a gradient for it must be given");
      grads.push_back(ones_like(outputs[i]));
    }
  }
  return grads;
}

}  // namespace

void Tensor::retain_grad() const {
  EMBER_CHECK(requires_grad(), "retain_grad() on a tensor that does not require grad: ", describe());
  if (is_leaf()) return;  // leaves keep their gradient anyway
  impl_->autograd.retains_grad = true;
  retain_registry()[grad_fn().get()].push_back({output_nr(), impl_ptr()});
}

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                bool retain_graph, bool create_graph, bool allow_unused) {
  const auto roots = root_edges(outputs, "grad");
  const auto root_grads = root_gradients(outputs, grad_outputs, "grad");
  // A graph differentiated with create_graph is kept: its second pass runs through it again.
  GraphTask task(retain_graph || create_graph, create_graph, /*accumulate=*/false);
  for (size_t i = 0; i < inputs.size(); ++i) {
    check_defined(inputs[i], "grad", "inputs");
    EMBER_CHECK(inputs[i].requires_grad(), "grad: input ", i, " (", inputs[i].describe(),
                ") does not require grad");
    task.add_capture(gradient_edge(inputs[i]), i);
  }
  TensorList result = task.run(roots, root_grads, inputs.size());
  for (size_t i = 0; i < result.size(); ++i) {
    EMBER_CHECK(allow_unused || result[i].defined(), "grad: input ", i, " (",
                inputs[i].describe(), ") was not used to compute the outputs; pass "
                "allow_unused=true if that is expected");
  }
  return result;
}

void backward(const TensorList& outputs, const TensorList& grad_outputs, bool retain_graph,
              bool create_graph) {
  const profiler::Range range("backward");
  const auto roots = root_edges(outputs, "backward");
  const auto root_grads = root_gradients(outputs, grad_outputs, "backward");
  GraphTask task(retain_graph || create_graph, create_graph, /*accumulate=*/true);
  task.run(roots, root_grads, 0);
  // Forget registrations whose tensors are gone.
  auto& registry = retain_registry();
  for (auto it = registry.begin(); it != registry.end();) {
    auto& list = it->second;
    std::erase_if(list, [](auto& p) { return p.second.expired(); });
    it = list.empty() ? registry.erase(it) : std::next(it);
  }
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  ember::backward({*this}, gradient.defined() ? TensorList{gradient} : TensorList{}, retain_graph,
                  create_graph);
}

}  // namespace ember
