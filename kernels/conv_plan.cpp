// Host-side plan decisions of the cuDNN convolution path (contract: kernels/conv_plan.h).
// Compiled in every build so CPU-only machines test them too (tests/test_cuda_conv.cpp).
#include "kernels/conv_plan.h"

#include <cstdlib>
#include <limits>

#include "tensor/error.h"

namespace ember::kernels {

std::string conv_plan_key(ConvDirection direction, const Conv2dGeometry& g, DType dtype,
                          int device, const BackendSettings& settings) {
  return conv_plan_key(direction, g, dtype, device, settings, preferred_cudnn_layout(dtype));
}

std::string conv_plan_key(ConvDirection direction, const Conv2dGeometry& g, DType dtype,
                          int device, const BackendSettings& settings, CudnnLayout layout) {
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
                        settings.conv_autotune ? " tuned" : " heur",
                        layout == CudnnLayout::Nhwc ? " nhwc" : " nchw");
}

ConvPlanKey make_conv_plan_key(ConvDirection direction, const Conv2dGeometry& g, DType dtype,
                               int device, const BackendSettings& settings) {
  return make_conv_plan_key(direction, g, dtype, device, settings, preferred_cudnn_layout(dtype));
}

ConvPlanKey make_conv_plan_key(ConvDirection direction, const Conv2dGeometry& g, DType dtype,
                               int device, const BackendSettings& settings, CudnnLayout layout) {
  const int64_t flags = (settings.allow_tf32 ? 1 : 0) | (settings.deterministic ? 2 : 0) |
                        (settings.conv_autotune ? 4 : 0);
  return {{static_cast<int64_t>(direction), device, static_cast<int64_t>(dtype), g.N, g.H, g.W,
           g.C, g.K, g.R, g.S, g.P, g.Q, g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.groups,
           flags, static_cast<int64_t>(layout)}};
}

size_t ConvPlanKeyHash::operator()(const ConvPlanKey& key) const noexcept {
  // FNV-1a over the fields' bytes, mixed per field: cheap, and the keys of one network differ in
  // a few small integers, which a plain XOR of std::hash values would collide on.
  uint64_t h = 1469598103934665603ull;
  for (int64_t f : key.fields) {
    uint64_t v = static_cast<uint64_t>(f);
    for (int byte = 0; byte < 8; ++byte, v >>= 8) h = (h ^ (v & 0xff)) * 1099511628211ull;
  }
  return static_cast<size_t>(h);
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

std::vector<size_t> conv_algo_try_order(const std::vector<ConvAlgoCandidate>& candidates,
                                        size_t workspace_cap, bool deterministic_only,
                                        bool allow_tensor_ops) {
  const std::optional<size_t> first =
      select_conv_algo(candidates, workspace_cap, deterministic_only, allow_tensor_ops);
  if (!first) return {};
  std::vector<size_t> order{*first};
  for (size_t i = 0; i < candidates.size(); ++i) {
    const ConvAlgoCandidate& c = candidates[i];
    if (i != *first && c.supported && (!deterministic_only || c.deterministic) &&
        (allow_tensor_ops || !c.uses_tensor_ops) && c.workspace <= workspace_cap)
      order.push_back(i);
  }
  return order;
}

std::vector<ConvAlgoCandidate> fallback_algo_order(ConvDirection direction) {
  struct Entry {
    int algo;
    bool deterministic;
  };
  std::vector<Entry> order;
  switch (direction) {
    case ConvDirection::Forward:
      // IMPLICIT_PRECOMP_GEMM, IMPLICIT_GEMM, GEMM, DIRECT, FFT_TILING, FFT, WINOGRAD,
      // WINOGRAD_NONFUSED.
      order = {{1, true}, {0, true}, {2, true}, {3, true},
               {5, true}, {4, true}, {6, true}, {7, true}};
      break;
    case ConvDirection::InputGrad:
      // ALGO_1, ALGO_0 (non-deterministic), FFT_TILING, FFT, WINOGRAD, WINOGRAD_NONFUSED.
      order = {{1, true}, {0, false}, {3, true}, {2, true}, {4, true}, {5, true}};
      break;
    case ConvDirection::WeightGrad:
      // ALGO_1, ALGO_0 (non-deterministic), ALGO_3 (non-deterministic), FFT_TILING, FFT,
      // WINOGRAD_NONFUSED, WINOGRAD (documented as not implemented: the probe will say).
      order = {{1, true}, {0, false}, {3, false}, {6, true}, {2, true}, {5, true}, {4, true}};
      break;
  }
  std::vector<ConvAlgoCandidate> out;
  for (const Entry& e : order) {
    ConvAlgoCandidate c;
    c.algo = e.algo;
    c.deterministic = e.deterministic;
    c.supported = false;
    out.push_back(c);
  }
  return out;
}

std::optional<size_t> select_fallback_algo(const std::vector<ConvAlgoCandidate>& probed,
                                           size_t workspace_cap, bool deterministic_only) {
  for (size_t i = 0; i < probed.size(); ++i) {
    const ConvAlgoCandidate& c = probed[i];
    if (c.supported && (!deterministic_only || c.deterministic) && c.workspace <= workspace_cap)
      return i;
  }
  return std::nullopt;
}

std::vector<size_t> fallback_try_order(const std::vector<ConvAlgoCandidate>& probed,
                                       size_t workspace_cap, bool deterministic_only) {
  std::vector<size_t> order;
  for (size_t i = 0; i < probed.size(); ++i) {
    const ConvAlgoCandidate& c = probed[i];
    if (c.supported && (!deterministic_only || c.deterministic) && c.workspace <= workspace_cap)
      order.push_back(i);
  }
  return order;
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
