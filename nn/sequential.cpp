// Sequential container. Tested in tests/test_nn.cpp (suite NnSequential).
#include "nn/sequential.h"

#include <string>

#include "tensor/error.h"

namespace ember::nn {

Sequential::Sequential(std::vector<std::shared_ptr<Layer>> layers) {
  for (auto& layer : layers) append(std::move(layer));
}

void Sequential::append(std::shared_ptr<Layer> layer) {
  EMBER_CHECK(layer != nullptr, "Sequential: layer ", layers_.size(), " is null");
  register_module(std::to_string(layers_.size()), layer);
  layers_.push_back(std::move(layer));
}

std::string Sequential::name() const {
  std::string text = "Sequential(";
  for (size_t i = 0; i < layers_.size(); ++i) text += (i ? ", " : "") + layers_[i]->name();
  return text + ")";
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& layer : layers_) y = layer->forward(y);
  return y;
}

Layer& Sequential::operator[](size_t i) const {
  EMBER_CHECK(i < layers_.size(), "Sequential: index ", i, " out of range for ", layers_.size(),
              " layers");
  return *layers_[i];
}

}  // namespace ember::nn
