// Activations and softmax. All support double backward.
#pragma once
#include "tensor/tensor.h"

namespace ember {

Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.2);
Tensor sigmoid(const Tensor& x);
Tensor silu(const Tensor& x);  // x * sigmoid(x), a.k.a. swish
Tensor softplus(const Tensor& x);  // log(1 + exp(x)), a smooth relu
Tensor tanh(const Tensor& x);
Tensor softmax(const Tensor& x, int64_t axis = -1);
Tensor log_softmax(const Tensor& x, int64_t axis = -1);

}  // namespace ember
