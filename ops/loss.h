// Losses. All return a scalar (mean reduction) and support double backward.
#pragma once
#include "tensor/tensor.h"

namespace ember {

// logits [N, C], target int64 [N]. class_weight [C] (optional) weights each sample by its
// target class and divides by the sum of those weights (as PyTorch). label_smoothing eps mixes
// the one-hot target with the uniform distribution: (1 - eps) * onehot + eps / C.
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const Tensor& class_weight = Tensor(), double label_smoothing = 0.0);
// The same loss written as log_softmax + gather + reductions: the reference the fused
// cross_entropy is tested against, and the path taken when class_weight requires grad.
Tensor cross_entropy_composite(const Tensor& logits, const Tensor& target,
                               const Tensor& class_weight = Tensor(), double label_smoothing = 0.0);
Tensor mse_loss(const Tensor& prediction, const Tensor& target);
// Numerically stable mean of -[y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))].
Tensor bce_with_logits(const Tensor& logits, const Tensor& target);

}  // namespace ember
