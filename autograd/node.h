// The autograd graph. Each differentiable op that sees an input requiring grad records a Node:
// a function from the gradients of its outputs to the gradients of its inputs, plus one Edge per
// input pointing at the node that produced that input (or at the leaf's AccumulateGrad node).
//
// Backward functions are written with differentiable ops (ops/), so when the engine runs them
// with grad mode on (create_graph) they record a graph of their own: that is what makes second
// derivatives work. A node whose backward cannot be differentiated says so
// (supports_double_backward() == false); the engine then marks its results so that
// differentiating through them is an error naming the op, never a silently wrong gradient.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ember {

using TensorList = std::vector<Tensor>;

class Node;
struct Edge {
  std::shared_ptr<Node> node;  // null: this input needs no gradient
  uint32_t input_nr = 0;       // which output of `node` (which slot of its input buffer)
  bool valid() const { return node != nullptr; }
};

// What the engine needs to know about each output to check and build gradients.
struct OutputMeta {
  Shape shape;
  DType dtype;
  Device device;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  Node();
  virtual ~Node() = default;

  virtual std::string name() const = 0;
  // grads[i] is the gradient of output i (never undefined: the engine fills zeros); returns one
  // gradient per input edge (undefined where an input needs none).
  virtual TensorList apply(const TensorList& grads) = 0;
  virtual bool supports_double_backward() const { return true; }
  // Frees saved tensors after a backward pass that did not ask to retain the graph.
  virtual void release_saved() {}

  std::vector<Edge> next_edges;
  std::vector<OutputMeta> outputs;
  uint64_t sequence_nr;  // creation order: later nodes run first among ready ones
  bool needs_input_grad(size_t i) const { return i < next_edges.size() && next_edges[i].valid(); }
};

// The node at the end of every leaf that requires grad: it adds the incoming gradient to .grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(const Tensor& leaf);
  std::string name() const override { return "AccumulateGrad"; }
  TensorList apply(const TensorList& grads) override;
  std::weak_ptr<TensorImpl> leaf;
};

// A saved tensor remembers the version of its storage; reading it after an in-place write is an
// error (the gradient would be silently wrong otherwise).
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t) : tensor_(t), version_(t.defined() ? t.version() : 0) {}
  const Tensor& get(const char* op) const;
  void reset() { tensor_ = Tensor(); released_ = true; }

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
  bool released_ = false;
};

// The edge a gradient for `t` should flow into: its grad_fn, or its leaf accumulator (created on
// first use), or none when it does not require grad.
Edge gradient_edge(const Tensor& t);

}  // namespace ember
