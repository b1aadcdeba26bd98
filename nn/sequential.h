// Sequential: a list of layers applied in order, registered as children "0", "1", ... so that
// parameter names read "0.weight", "2.bias" as in PyTorch's nn.Sequential.
// Kept apart from nn/layers.cpp: it is pure bookkeeping and calls no math op.
// Tested in tests/test_nn.cpp (suite NnSequential).
#pragma once
#include <memory>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace ember::nn {

class Sequential : public Layer {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Layer>> layers);

  std::string name() const override;
  Tensor forward(const Tensor& x) override;

  // Appends a layer; returns it for chaining and later access.
  template <typename L>
  std::shared_ptr<L> add(std::shared_ptr<L> layer) {
    append(layer);
    return layer;
  }
  // Builds a layer in place: seq.emplace<Linear>(16, 10, gen).
  template <typename L, typename... Args>
  std::shared_ptr<L> emplace(Args&&... args) {
    return add(std::make_shared<L>(std::forward<Args>(args)...));
  }

  size_t size() const { return layers_.size(); }
  Layer& operator[](size_t i) const;

 private:
  void append(std::shared_ptr<Layer> layer);
  std::vector<std::shared_ptr<Layer>> layers_;
};

}  // namespace ember::nn
