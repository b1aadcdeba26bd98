// The backward engine: topological execution of the recorded graph.
//
// Accumulation contract (tested in tests/test_autograd.cpp):
// - backward() ADDS into .grad of leaves that require grad (parameters accumulate across calls
//   until zeroed), and into non-leaves only if retain_grad() was called on them.
// - grad() RETURNS the gradients of the requested inputs and touches no .grad at all.
// - A gradient flowing into a node from several uses is the sum of those uses.
// - Without retain_graph, saved tensors are freed as nodes run; a second backward through the
//   same nodes is an error that says so.
// - With create_graph, backward functions run with grad mode on and the returned gradients carry
//   history (so they can be differentiated again); otherwise they run under no-grad.
#pragma once
#include "autograd/node.h"

namespace ember {

// Gradients of `outputs` (weighted by grad_outputs, or ones for scalar outputs when empty) with
// respect to `inputs`. An input the outputs do not depend on gets an undefined tensor unless
// allow_unused is false, in which case that is an error.
TensorList grad(const TensorList& outputs, const TensorList& inputs,
                const TensorList& grad_outputs = {}, bool retain_graph = false,
                bool create_graph = false, bool allow_unused = false);

// Accumulates d(outputs)/d(leaf) into leaf.grad for every leaf that requires grad.
void backward(const TensorList& outputs, const TensorList& grad_outputs = {},
              bool retain_graph = false, bool create_graph = false);

}  // namespace ember
