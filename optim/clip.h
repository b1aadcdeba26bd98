// Gradient clipping by global norm, with PyTorch's torch.nn.utils.clip_grad_norm_ semantics
// (norm_type 2):
//   total_norm = sqrt(sum over parameters with a .grad of sum(grad^2))
//   clip_coef  = max_norm / (total_norm + 1e-6)
//   if clip_coef < 1: every grad *= clip_coef        (in place: the .grad tensors are kept)
// and the total norm before clipping is returned. Parameters without a .grad are skipped; with
// none at all the result is 0. Each parameter's sum of squares stays on its device and they are
// added there, so a step on the GPU reads one scalar back, once, at the end.
// A non-finite total norm fails when error_if_nonfinite, else (as in PyTorch) the grads are
// scaled by max_norm / inf = 0 (inf) or become NaN (NaN).
// Tested in tests/test_optim_clip.cpp against hand computations.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace ember::optim {

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm,
                      bool error_if_nonfinite = false);

}  // namespace ember::optim
