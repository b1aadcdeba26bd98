// Nodes, leaf accumulation, saved-tensor version checks and grad mode.
#include "autograd/node.h"

#include <atomic>

#include "autograd/grad_mode.h"
#include "ops/elementwise.h"
#include "ops/shape.h"

namespace ember {

namespace {
thread_local bool grad_mode_enabled = true;
std::atomic<uint64_t> next_sequence_nr{0};
}  // namespace

bool GradMode::enabled() { return grad_mode_enabled; }
void GradMode::set_enabled(bool enabled) { grad_mode_enabled = enabled; }

Node::Node() : sequence_nr(next_sequence_nr.fetch_add(1)) {}

AccumulateGrad::AccumulateGrad(const Tensor& t) : leaf(t.impl_ptr()) {
  outputs.push_back({t.shape(), t.dtype(), t.device()});
}

namespace {

// True when nothing but `grads` holds g or its memory, and g covers that memory exactly, densely,
// in the leaf's dtype and device: the leaf can then take g as its .grad instead of a copy (what
// PyTorch's AccumulateGrad does too), which saves a copy per parameter and step once gradients
// are set to none between steps.
bool can_take_over(const Tensor& g, const TensorImpl& leaf) {
  return g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1 && !g.requires_grad() &&
         g.is_contiguous() && g.offset() == 0 &&
         g.storage()->nbytes() == static_cast<size_t>(g.numel()) * dtype_size(g.dtype()) &&
         g.dtype() == leaf.dtype && g.device() == leaf.storage->device();
}

}  // namespace

// Adds the gradient into the leaf's .grad: the first time as a private contiguous tensor (never an
// alias of a tensor the caller may still hold, never a broadcast view: g itself when nothing else
// holds it, else a copy), afterwards in place, or out of place with history while the engine
// records (create_graph).
TensorList AccumulateGrad::apply(const TensorList& grads) {
  auto impl = leaf.lock();
  if (!impl) return {};
  Tensor& slot = impl->autograd.grad;
  const Tensor& g = grads[0];
  if (!slot.defined()) {
    if (GradMode::enabled())
      slot = g;
    else
      slot = can_take_over(g, *impl) ? g.detach() : g.detach().clone();
  } else if (GradMode::enabled() || slot.requires_grad()) {
    slot = slot + g;
  } else {
    add_(slot, g);
  }
  return {};
}

const Tensor& SavedTensor::get(const char* op) const {
  EMBER_CHECK(!released_, op, ": its saved tensors were already freed by an earlier backward "
              "pass; call backward/grad with retain_graph=true to go through the graph twice");
  EMBER_CHECK(!tensor_.defined() || tensor_.version() == version_, op,
              ": a tensor saved for its backward (", tensor_.describe(),
              ") was modified in place after the op ran, so its gradient would be wrong");
  return tensor_;
}

Edge gradient_edge(const Tensor& t) {
  if (!t.requires_grad()) return {};
  if (t.grad_fn()) return {t.grad_fn(), t.output_nr()};
  auto& meta = t.impl()->autograd;
  std::shared_ptr<Node> acc = meta.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t);
    meta.grad_accumulator = acc;
  }
  return {acc, 0};
}

}  // namespace ember
