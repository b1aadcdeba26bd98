// clip_grad_norm and its device path (contract and reference in optim/clip.h).
// Tested in tests/test_optim_clip.cpp.
#include "optim/clip.h"

#include <cmath>
#include <utility>

#include "autograd/grad_mode.h"
#include "kernels/optim.h"
#include "tensor/error.h"

namespace ember::optim {

Tensor clip_grad_norm_device(const std::vector<Tensor>& params, double max_norm,
                             bool error_if_nonfinite) {
  EMBER_CHECK(max_norm > 0.0, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  NoGradGuard no_grad;
  // The gradients grouped by dtype (one kernel call each); positions keep parameter order.
  struct Group {
    std::vector<Tensor> grads;
    std::vector<int64_t> positions;
  };
  std::vector<Group> groups;
  std::vector<std::pair<Tensor, Tensor>> strided;  // (a strided .grad, its contiguous copy)
  int64_t count = 0;
  Device device = Device::cpu();
  for (size_t i = 0; i < params.size(); ++i) {
    EMBER_CHECK(params[i].defined(), "clip_grad_norm: parameter ", i, " is undefined");
    const Tensor& g = params[i].grad();
    if (!g.defined()) continue;
    EMBER_CHECK(g.dtype() == DType::Float32 || g.dtype() == DType::Float64,
                "clip_grad_norm: the gradient of parameter ", i, " is ", g.describe(),
                ", not floating point");
    EMBER_CHECK(groups.empty() || g.device() == device,
                "clip_grad_norm: gradients on different devices (", groups[0].grads[0].describe(),
                " and ", g.describe(), " of parameter ", i, ")");
    device = g.device();
    // The kernels take contiguous tensors: a strided gradient (a view that backward handed over)
    // is clipped in a contiguous copy, written back below.
    Tensor work = g;
    if (!g.is_contiguous()) {
      work = g.contiguous();
      strided.emplace_back(g, work);
    }
    Group* group = nullptr;
    for (Group& candidate : groups)
      if (candidate.grads[0].dtype() == g.dtype()) group = &candidate;
    if (group == nullptr) group = &groups.emplace_back();
    group->grads.push_back(work);
    group->positions.push_back(count++);
  }
  if (groups.empty()) return zeros({1}, {.dtype = DType::Float64});

  const TensorOptions f64{.dtype = DType::Float64, .device = device};
  const Tensor sums = empty({count}, f64);   // per gradient, in parameter order
  const Tensor result = empty({2}, f64);     // [total norm, clip coefficient]
  for (const Group& group : groups) kernels::sum_squares_multi(group.grads, sums, group.positions);
  kernels::clip_coefficient(sums, result, max_norm, /*keep_if_nonfinite=*/error_if_nonfinite);
  for (const Group& group : groups) kernels::scale_by_clip_coefficient_multi(group.grads, result);
  for (const auto& [grad, work] : strided) copy_(grad, work);  // a device copy: no host read
  return result.slice(0, 0, 1);
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm,
                      bool error_if_nonfinite) {
  const double total_norm =
      clip_grad_norm_device(params, max_norm, error_if_nonfinite).item<double>();  // one read
  EMBER_CHECK(!error_if_nonfinite || std::isfinite(total_norm),
              "clip_grad_norm: the total gradient norm is ", total_norm,
              " (a gradient holds inf or NaN)");
  return total_norm;
}

}  // namespace ember::optim
