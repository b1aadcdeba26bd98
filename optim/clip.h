// Gradient clipping by global norm, with PyTorch's torch.nn.utils.clip_grad_norm_ semantics
// (norm_type 2):
//   total_norm = sqrt(sum over parameters with a .grad of sum(grad^2))
//   clip_coef  = max_norm / (total_norm + 1e-6)
//   if clip_coef < 1: every grad *= clip_coef        (in place: the .grad tensors are kept)
// and the total norm before clipping is returned. Parameters without a .grad are skipped; with
// none at all the result is 0. All gradients must be on one device.
// A non-finite total norm fails when error_if_nonfinite, else (as in PyTorch) the grads are
// scaled by max_norm / inf = 0 (inf) or become NaN (NaN).
//
// Device path (clip_grad_norm_device): multi-tensor kernels (kernels/optim.h) compute each
// gradient's sum of squares (squares in its dtype, summed in float64 and rounded to its dtype,
// as sum(g * g) did), add them in parameter order in float64, compute the norm and the clip
// coefficient on the device, and scale every gradient by the coefficient read from device
// memory: one kernel call per dtype group and step, nothing read back, so it can be captured in a
// CUDA graph. It returns the total norm as a float64 tensor [1] on the gradients' device.
// error_if_nonfinite there does NOT throw (a kernel cannot, and the read that would tell is the
// caller's): with a non-finite norm the gradients are left unscaled, and the returned norm is
// inf or NaN for the caller to check when it reads it. clip_grad_norm (the double form) is the
// device path plus that one read and check: it throws, as before, with the gradients unchanged.
// Tested in tests/test_optim_clip.cpp against hand computations and the composite it replaced.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace ember::optim {

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm,
                      bool error_if_nonfinite = false);

Tensor clip_grad_norm_device(const std::vector<Tensor>& params, double max_norm,
                             bool error_if_nonfinite = false);

}  // namespace ember::optim
