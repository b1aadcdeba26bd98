// Host-side decisions of the cuDNN convolution path that need no GPU, so they are unit-tested on
// the CPU (tests/test_cuda_conv.cpp, CudnnPlan.*): the plan-cache key, the workspace cap, the
// algorithm choice under the cap and the determinism flag, the padding translation onto cuDNN's
// symmetric pads, and which problems count as depthwise. kernels/cuda/conv.cpp applies them.
// Policy and reasons: docs/cudnn.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernels/backend_settings.h"
#include "kernels/conv.h"
#include "tensor/dtype.h"

namespace ember::kernels {

enum class ConvDirection { Forward, InputGrad, WeightGrad };

// The full problem key: device, direction, every dimension, stride and pad, groups, dtype and
// the settings that change which algorithm may be chosen (TF32, determinism, autotuning).
// Two calls share a cached algorithm exactly when their keys are equal.
std::string conv_plan_key(ConvDirection direction, const Conv2dGeometry& geo, DType dtype,
                          int device, const BackendSettings& settings);

// One algorithm as reported by cuDNN (heuristics or timing), in cuDNN's order of preference.
struct ConvAlgoCandidate {
  int algo = 0;             // the cudnnConvolution*Algo_t value
  size_t workspace = 0;     // bytes
  bool supported = true;    // status == CUDNN_STATUS_SUCCESS
  bool deterministic = false;
  bool uses_tensor_ops = false;  // would round float32 inputs to TF32 (or lower)
  int math_type = 0;        // the cudnnMathType_t to run it with
};

// The candidate to run: the first supported one (deterministic when required, without tensor
// ops unless allowed) if its workspace fits the cap; otherwise the fitting eligible candidate
// with the smallest workspace (earlier wins a tie). nullopt when nothing eligible fits.
std::optional<size_t> select_conv_algo(const std::vector<ConvAlgoCandidate>& candidates,
                                       size_t workspace_cap, bool deterministic_only,
                                       bool allow_tensor_ops);

// The workspace cap in bytes from EMBER_CUDNN_WORKSPACE_MB's text (nullptr or empty: 1 GiB).
// Throws on anything but a non-negative integer number of MiB.
size_t parse_workspace_cap(const char* mib_text);
// The cap this process uses (read once from the environment).
size_t cudnn_workspace_cap();

// How one convolution reaches cuDNN, whose legacy API takes one symmetric pad per dimension.
// Per dimension: when a symmetric pad of pad_top (pad_left) gives the same P (Q) as the caller's
// geometry, cuDNN pads by itself; otherwise the input is zero-padded into a temporary of height
// Hp = (P - 1) * stride_h + R with x's row h at row h + pad_top, and cuDNN pads by 0.
struct CudnnPadding {
  bool explicit_h = false, explicit_w = false;  // a padded temporary carries this dimension
  int64_t Hp = 0, Wp = 0;        // the height / width cuDNN sees
  int64_t off_h = 0, off_w = 0;  // where x's (0, 0) sits in the temporary
  int64_t pad_h = 0, pad_w = 0;  // the symmetric pads given to cuDNN
  bool needs_temporary() const { return explicit_h || explicit_w; }
};
CudnnPadding cudnn_padding(const Conv2dGeometry& geo);

// Depthwise: one input channel per group and one output channel per input channel (K == C ==
// groups). These may run on ember's own kernels (kernels/cuda/depthwise_conv.cu).
inline bool is_depthwise(const Conv2dGeometry& geo) {
  return geo.groups > 1 && geo.groups == geo.C && geo.K == geo.C;
}

}  // namespace ember::kernels
