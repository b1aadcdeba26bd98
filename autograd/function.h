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

class BackwardContext {
 public:
  BackwardContext(const TensorList& grads, const Node& node) : grads_(grads), node_(node) {}
  const Tensor& grad(size_t output = 0) const { return grads_[output]; }
  bool needs(size_t input) const { return node_.needs_input_grad(input); }
  // True while the engine records the backward pass (create_graph): fused, non-differentiable
  // shortcuts must not be taken then.
  bool create_graph() const { return GradMode::enabled(); }

 private:
  const TensorList& grads_;
  const Node& node_;
};

using BackwardFn = std::function<TensorList(const BackwardContext&)>;

inline SavedTensor save(const Tensor& t) { return SavedTensor(t); }

// True when an op on these inputs must record history.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
bool any_requires_grad(const TensorList& inputs);

// Records `fn` as the backward of an op with these inputs and outputs, if grad mode is on and
// some input requires grad. Returns the node (or null when nothing was recorded).
std::shared_ptr<Node> record(const char* name, const TensorList& inputs, const TensorList& outputs,
                             BackwardFn fn, DoubleBackward double_backward = DoubleBackward::Yes);
inline std::shared_ptr<Node> record(const char* name, const TensorList& inputs, const Tensor& output,
                                    BackwardFn fn, DoubleBackward double_backward = DoubleBackward::Yes) {
  return record(name, inputs, TensorList{output}, std::move(fn), double_backward);
}

}  // namespace ember
