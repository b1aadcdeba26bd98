// clip_grad_norm (contract and reference in optim/clip.h). Tested in tests/test_optim_clip.cpp.
#include "optim/clip.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "ops/ops.h"
#include "tensor/error.h"

namespace ember::optim {

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm,
                      bool error_if_nonfinite) {
  EMBER_CHECK(max_norm > 0.0, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (size_t i = 0; i < params.size(); ++i) {
    EMBER_CHECK(params[i].defined(), "clip_grad_norm: parameter ", i, " is undefined");
    const Tensor& g = params[i].grad();
    if (!g.defined()) continue;
    EMBER_CHECK(g.dtype() == DType::Float32 || g.dtype() == DType::Float64,
                "clip_grad_norm: the gradient of parameter ", i, " is ", g.describe(),
                ", not floating point");
    EMBER_CHECK(grads.empty() || g.device() == grads.front().device(),
                "clip_grad_norm: gradients on different devices (", grads.front().describe(),
                " and ", g.describe(), " of parameter ", i, ")");
    grads.push_back(g);
  }
  if (grads.empty()) return 0.0;

  // Sum of squares per gradient (in its dtype, as PyTorch), accumulated in float64 on the device.
  Tensor total;
  for (const Tensor& g : grads) {
    const Tensor squares = to_dtype(sum(g * g), DType::Float64);
    total = total.defined() ? total + squares : squares;
  }
  const double total_norm = std::sqrt(total.item<double>());  // the one host read
  EMBER_CHECK(!error_if_nonfinite || std::isfinite(total_norm),
              "clip_grad_norm: the total gradient norm is ", total_norm,
              " (a gradient holds inf or NaN)");
  const double clip_coef = max_norm / (total_norm + 1e-6);
  if (clip_coef < 1.0 || std::isnan(clip_coef)) {
    for (const Tensor& g : grads) mul_(g, clip_coef);
  }
  return total_norm;
}

}  // namespace ember::optim
