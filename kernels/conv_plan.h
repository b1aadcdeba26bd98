// Host-side decisions of the cuDNN convolution path that need no GPU, so they are unit-tested on
// the CPU (tests/test_cuda_conv.cpp, CudnnPlan.*): the plan-cache key, the workspace cap, the
// algorithm choice under the cap and the determinism flag, the fallback order when cuDNN's
// heuristics offer nothing usable, the padding translation onto cuDNN's symmetric pads, and
// which problems count as depthwise. kernels/cuda/conv.cpp applies them.
// Policy and reasons: docs/cudnn.md.
#pragma once
#include <array>
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

// The layout cuDNN sees a problem in: ember's own NHWC activations and KRSC filters, or NCHW /
// KCRS through transposed copies. float64 always runs in NCHW (cuDNN's NHWC kernels centre on
// float32 and half); float32 runs in NHWC, and in NCHW when no algorithm runs its NHWC problem.
enum class CudnnLayout { Nhwc, Nchw };
inline CudnnLayout preferred_cudnn_layout(DType dtype) {
  return dtype == DType::Float64 ? CudnnLayout::Nchw : CudnnLayout::Nhwc;
}

// The full problem key: device, direction, every dimension, stride and pad, groups, dtype, the
// layout cuDNN sees (preferred_cudnn_layout unless given) and the settings that change which
// algorithm may be chosen (TF32, determinism, autotuning). Two calls share a cached algorithm
// exactly when their keys are equal.
std::string conv_plan_key(ConvDirection direction, const Conv2dGeometry& geo, DType dtype,
                          int device, const BackendSettings& settings);
std::string conv_plan_key(ConvDirection direction, const Conv2dGeometry& geo, DType dtype,
                          int device, const BackendSettings& settings, CudnnLayout layout);

// The same key as a compact value, for the cache lookup made on every call (formatting the
// string costs more host time than the lookup itself). Two ConvPlanKeys are equal exactly when
// the conv_plan_key strings of their arguments are; the string stays for messages.
struct ConvPlanKey {
  // direction, device, dtype, N, H, W, C, K, R, S, P, Q, stride_h, stride_w, pad_top,
  // pad_left, groups, settings bits (tf32 | deterministic << 1 | autotune << 2), layout.
  // Dilation is always 1.
  std::array<int64_t, 19> fields{};
  bool operator==(const ConvPlanKey&) const = default;
};
struct ConvPlanKeyHash {
  size_t operator()(const ConvPlanKey& key) const noexcept;
};
ConvPlanKey make_conv_plan_key(ConvDirection direction, const Conv2dGeometry& geo, DType dtype,
                               int device, const BackendSettings& settings);
ConvPlanKey make_conv_plan_key(ConvDirection direction, const Conv2dGeometry& geo, DType dtype,
                               int device, const BackendSettings& settings, CudnnLayout layout);

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

// The order in which a new key's candidates are run until one succeeds (a plan is cached only
// after its algorithm has run once: cuDNN may rank, and size the workspace of, an algorithm that
// then refuses to run): select_conv_algo's choice first, then every other eligible candidate
// whose workspace fits the cap, in the list's order. Empty when select_conv_algo finds nothing.
std::vector<size_t> conv_algo_try_order(const std::vector<ConvAlgoCandidate>& candidates,
                                        size_t workspace_cap, bool deterministic_only,
                                        bool allow_tensor_ops);

// When the heuristics (and timing) leave no usable candidate, every algorithm of the direction
// is probed in this order (cudnnGetConvolution*WorkspaceSize under the math type the plan runs
// with; a failed query means unsupported). The values are the cudnnConvolution*Algo_t enums
// (kernels/cuda/conv.cpp checks them with static_asserts); `deterministic` is cuDNN's
// documented determinism of each (cudnn_ops.h marks BWD_DATA_ALGO_0, BWD_FILTER_ALGO_0 and
// BWD_FILTER_ALGO_3 non-deterministic; every forward algorithm is deterministic). Order: the
// GEMM-style algorithms, which sum products exactly like the CPU reference, before FFT and
// Winograd, which transform the operands and lose a few bits; among them the usual fastest
// first (precomputed implicit GEMM; the deterministic ALGO_1 of the backward directions, so the
// choice does not flip with the determinism switch). Entries come back with supported = false
// (not probed yet) and workspace 0.
std::vector<ConvAlgoCandidate> fallback_algo_order(ConvDirection direction);

// The fallback's choice among probed candidates: the first supported one (deterministic when
// required) whose workspace fits the cap. nullopt when there is none.
std::optional<size_t> select_fallback_algo(const std::vector<ConvAlgoCandidate>& probed,
                                           size_t workspace_cap, bool deterministic_only);
// Every such candidate, in order: what is run, one after the other, until one succeeds.
std::vector<size_t> fallback_try_order(const std::vector<ConvAlgoCandidate>& probed,
                                       size_t workspace_cap, bool deterministic_only);

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
