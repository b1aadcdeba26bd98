// record(): wraps a backward lambda into a Node and attaches it to the op's outputs.
#include "autograd/function.h"

namespace ember {

namespace {

class LambdaNode final : public Node {
 public:
  LambdaNode(const char* name, BackwardFn fn, DoubleBackward double_backward)
      : name_(name), fn_(std::move(fn)), double_backward_(double_backward) {}

  std::string name() const override { return name_ + "Backward"; }
  bool supports_double_backward() const override { return double_backward_ == DoubleBackward::Yes; }
  TensorList apply(const TensorList& grads) override {
    EMBER_CHECK(fn_, name(), ": its saved tensors were already freed by an earlier backward "
                "pass; call backward/grad with retain_graph=true to go through the graph twice");
    return fn_(BackwardContext(grads, *this, saved_outputs));
  }
  void release_saved() override {
    fn_ = nullptr;
    for (SavedTensor& s : saved_outputs) s.reset();
  }

  std::vector<SavedTensor> saved_outputs;  // data-only views of the outputs (SaveOutput::Yes)

 private:
  std::string name_;
  BackwardFn fn_;
  DoubleBackward double_backward_;
};

}  // namespace

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  for (const Tensor* t : inputs) if (t && t->requires_grad()) return true;
  return false;
}

bool any_requires_grad(const TensorList& inputs) {
  for (const Tensor& t : inputs) if (t.requires_grad()) return true;
  return false;
}

Tensor BackwardContext::output(size_t i) const {
  EMBER_CHECK(i < outputs_.size(), node_.name(), ": output ", i,
              " was not saved (record the op with SaveOutput::Yes)");
  const Tensor& data = outputs_[i].get(node_.name().c_str());
  if (!GradMode::enabled()) return data;
  Tensor linked = make_view(data, data.shape(), data.strides(), data.offset());
  auto& meta = linked.impl()->autograd;
  meta.requires_grad = true;
  meta.grad_fn = node_.shared_from_this();
  meta.output_nr = static_cast<uint32_t>(i);
  return linked;
}

std::shared_ptr<Node> record(const char* name, const TensorList& inputs, const TensorList& outputs,
                             BackwardFn fn, DoubleBackward double_backward, SaveOutput save_output) {
  if (!GradMode::enabled() || !any_requires_grad(inputs)) return nullptr;
  auto node = std::make_shared<LambdaNode>(name, std::move(fn), double_backward);
  node->next_edges.reserve(inputs.size());
  for (const Tensor& t : inputs) node->next_edges.push_back(gradient_edge(t));
  for (uint32_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    node->outputs.push_back({out.shape(), out.dtype(), out.device()});
    auto& meta = out.impl()->autograd;
    EMBER_CHECK(!meta.grad_fn && !meta.requires_grad, name,
                ": output ", i, " already has autograd history (an op must return fresh tensors)");
    meta.requires_grad = true;
    meta.grad_fn = node;
    meta.output_nr = i;
    if (save_output == SaveOutput::Yes)
      node->saved_outputs.emplace_back(make_view(out, out.shape(), out.strides(), out.offset()));
  }
  return node;
}

}  // namespace ember
