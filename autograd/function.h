// Recording an op's history with its backward written next to its forward.
//
//   Tensor out = ...forward kernel...;
//   record("mul", {a, b}, out, [sa = save(a), sb = save(b)](const BackwardContext& ctx) {
//     return TensorList{ctx.needs(0) ? ctx.grad() * sb.get("mul") : Tensor(), ...};
//   });
//
// The lambda receives the output gradient(s) and returns one gradient per input. It is built
// from differentiable ops, so it supports double backward unless the op is recorded with
// DoubleBackward::No (then the engine guards its results). Captured SavedTensors are released
// with the lambda after a backward pass that does not retain the graph.
#pragma once
#include <functional>
#include <initializer_list>
#include <string>

#include "autograd/grad_mode.h"
#include "autograd/node.h"

namespace ember {

enum class DoubleBackward { Yes, No };
// SaveOutput::Yes keeps the op's outputs for its backward (ctx.output(i)). They are kept by the
// node as data only, without their autograd history, so an output and its own grad_fn never
// hold each other alive; ctx.output(i) rebuilds the link when the backward is recorded.
enum class SaveOutput { No, Yes };

class BackwardContext {
 public:
  BackwardContext(const TensorList& grads, Node& node, const std::vector<SavedTensor>& outputs)
      : grads_(grads), node_(node), outputs_(outputs) {}
  const Tensor& grad(size_t output = 0) const { return grads_[output]; }
  bool needs(size_t input) const { return node_.needs_input_grad(input); }
  // Output i of the op (recorded with SaveOutput::Yes). While create_graph records, it carries
  // this node as its grad_fn, so formulas such as exp' = exp(x) differentiate correctly.
  Tensor output(size_t i = 0) const;
  // True while the engine records the backward pass (create_graph): fused, non-differentiable
  // shortcuts must not be taken then.
  bool create_graph() const { return GradMode::enabled(); }

 private:
  const TensorList& grads_;
  Node& node_;
  const std::vector<SavedTensor>& outputs_;
};

using BackwardFn = std::function<TensorList(const BackwardContext&)>;

inline SavedTensor save(const Tensor& t) { return SavedTensor(t); }

// True when an op on these inputs must record history.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
bool any_requires_grad(const TensorList& inputs);

// Records `fn` as the backward of an op with these inputs and outputs, if grad mode is on and
// some input requires grad. Returns the node (or null when nothing was recorded).
std::shared_ptr<Node> record(const char* name, const TensorList& inputs, const TensorList& outputs,
                             BackwardFn fn, DoubleBackward double_backward = DoubleBackward::Yes,
                             SaveOutput save_output = SaveOutput::No);
inline std::shared_ptr<Node> record(const char* name, const TensorList& inputs, const Tensor& output,
                                    BackwardFn fn, DoubleBackward double_backward = DoubleBackward::Yes,
                                    SaveOutput save_output = SaveOutput::No) {
  return record(name, inputs, TensorList{output}, std::move(fn), double_backward, save_output);
}

}  // namespace ember
