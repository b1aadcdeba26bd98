// Host-side plan decisions of the cuDNN convolution path (contract: kernels/conv_plan.h).
// Compiled in every build so CPU-only machines test them too (tests/test_cuda_conv.cpp).
#include "kernels/conv_plan.h"

#include <cstdlib>
#include <limits>

#include "tensor/error.h"

namespace ember::kernels {

std::string conv_plan_key(ConvDirection direction, const Conv2dGeometry& g, DType dtype,
                          int device, const BackendSettings& settings) {
  const char* dir = direction == ConvDirection::Forward     ? "fwd"
                    : direction == ConvDirection::InputGrad ? "dgrad"
                                                            : "wgrad";
  // Dilation is always 1 in this framework; it is written out so the key stays complete if
  // Conv2dGeometry ever grows one.
  return detail::concat(dir, " dev", device, " ", dtype_name(dtype), " N", g.N, " H", g.H, " W",
                        g.W, " C", g.C, " K", g.K, " R", g.R, " S", g.S, " P", g.P, " Q", g.Q,
                        " stride", g.stride_h, "x", g.stride_w, " pad", g.pad_top, "x",
                        g.pad_left, " dil1x1 groups", g.groups, settings.allow_tf32 ? " tf32" : " fp32",
                        settings.deterministic ? " det" : " nondet",
                        settings.conv_autotune ? " tuned" : " heur");
}

std::optional<size_t> select_conv_algo(const std::vector<ConvAlgoCandidate>& candidates,
                                       size_t workspace_cap, bool deterministic_only,
                                       bool allow_tensor_ops) {
  auto eligible = [&](const ConvAlgoCandidate& c) {
    return c.supported && (!deterministic_only || c.deterministic) &&
           (allow_tensor_ops || !c.uses_tensor_ops);
  };
  size_t first = 0;
  while (first < candidates.size() && !eligible(candidates[first])) ++first;
  if (first == candidates.size()) return std::nullopt;
  if (candidates[first].workspace <= workspace_cap) return first;  // the preferred one fits
  std::optional<size_t> smallest;
  for (size_t i = first + 1; i < candidates.size(); ++i) {
    const ConvAlgoCandidate& c = candidates[i];
    if (eligible(c) && c.workspace <= workspace_cap &&
        (!smallest || c.workspace < candidates[*smallest].workspace))
      smallest = i;
  }
  return smallest;
}

size_t parse_workspace_cap(const char* text) {
  constexpr size_t kMiB = size_t{1} << 20;
  if (!text || !*text) return 1024 * kMiB;
  char* end = nullptr;
  const unsigned long long mib = std::strtoull(text, &end, 10);
  EMBER_CHECK(*end == '\0' && text[0] != '-' && mib <= std::numeric_limits<size_t>::max() / kMiB,
              "EMBER_CUDNN_WORKSPACE_MB must be a non-negative whole number of MiB, got '", text,
              "'");
  return static_cast<size_t>(mib) * kMiB;
}

size_t cudnn_workspace_cap() {
  static const size_t cap = parse_workspace_cap(std::getenv("EMBER_CUDNN_WORKSPACE_MB"));
  return cap;
}

CudnnPadding cudnn_padding(const Conv2dGeometry& g) {
  CudnnPadding p;
  // Symmetric pad t gives (H + 2t - R) / stride + 1 rows, reading the same input rows
  // h = p * stride - t + r as the caller's geometry for every p < P: usable when the count is P.
  auto symmetric_ok = [](int64_t in, int64_t pad, int64_t k, int64_t stride, int64_t out) {
    const int64_t span = in + 2 * pad - k;
    return span >= 0 && span / stride + 1 == out;
  };
  p.explicit_h = !symmetric_ok(g.H, g.pad_top, g.R, g.stride_h, g.P);
  p.explicit_w = !symmetric_ok(g.W, g.pad_left, g.S, g.stride_w, g.Q);
  if (p.explicit_h) {
    p.Hp = (g.P - 1) * g.stride_h + g.R, p.off_h = g.pad_top, p.pad_h = 0;
  } else {
    p.Hp = g.H, p.off_h = 0, p.pad_h = g.pad_top;
  }
  if (p.explicit_w) {
    p.Wp = (g.Q - 1) * g.stride_w + g.S, p.off_w = g.pad_left, p.pad_w = 0;
  } else {
    p.Wp = g.W, p.off_w = 0, p.pad_w = g.pad_left;
  }
  return p;
}

}  // namespace ember::kernels
