// CUDA 2-D convolutions (contract: kernels/conv.h; reference: kernels/cpu/conv.cpp): cuDNN's
// convolution API for every problem, except depthwise ones (K == C == groups) when
// backend_settings().depthwise_impl is Ember, which run ember's kernels
// (kernels/cuda/depthwise_conv.cu). Tested against the CPU in tests/test_cuda_conv.cpp.
//
// Policy (details and reasons in docs/cudnn.md):
// - The algorithm is chosen once per full problem key (kernels/conv_plan.h: direction, device,
//   dtype, every dimension, stride, pad, groups, TF32 / determinism / autotune settings) and
//   cached; by cuDNN's heuristics (cudnnGet*Algorithm_v7), or with autotuning by timing
//   (cudnnFind*AlgorithmEx) once per key into scratch outputs.
// - One grow-only workspace per device (a byte Tensor from the device allocator), capped by
//   EMBER_CUDNN_WORKSPACE_MB (default 1 GiB); a choice over the cap falls back to the
//   smallest-workspace algorithm that fits (select_conv_algo).
// - float32 runs with CUDNN_FMA_MATH (exact fp32: CUDNN_DEFAULT_MATH would allow TF32 on
//   Ampere and Hopper) unless allow_tf32; float64 always with CUDNN_FMA_MATH.
// - The legacy API takes one symmetric pad per dimension; asymmetric geometries go through a
//   zero-padded temporary (cudnn_padding).
// - float32 runs NHWC / KRSC directly; float64 through NCHW / KCRS copies (nchw_layout).
//
// Why the legacy API: cuDNN 9.19 still ships cudnnConvolutionForward / BackwardData /
// BackwardFilter (deprecated in favour of the backend graph API). They are well-understood,
// cover NHWC, groups and float64, and keep this file small; the deprecation attributes are
// only emitted when CUDNN_WARN_DEPRECATED is defined, and are silenced here regardless so a
// future header that enables them does not bury real warnings.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/backend_settings.h"
#include "kernels/conv.h"
#include "kernels/conv_plan.h"
#include "kernels/cuda/conv_cuda.h"
#include "kernels/cuda/cudnn_context.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace ember::kernels::cuda {

namespace {

struct ConvPlan {
  int algo = 0;
  size_t workspace = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;
};

cudnnDataType_t data_type_of(DType dtype) {
  switch (dtype) {
    case DType::Float32: return CUDNN_DATA_FLOAT;
    case DType::Float64: return CUDNN_DATA_DOUBLE;
    default: EMBER_FAIL("conv2d (cuDNN): expected float32 or float64, got ", dtype_name(dtype));
  }
}

// float32 runs in ember's own layouts, NHWC activations and KRSC filters. float64 runs in NCHW /
// KCRS through transposed copies: cuDNN's NHWC support centres on float32/half (PyTorch, too,
// never hands cuDNN channels-last float64), and float64 serves checks, not speed.
bool nchw_layout(DType dtype) { return dtype == DType::Float64; }

int to_int(int64_t v, const char* what) {
  EMBER_CHECK(v >= 0 && v <= INT_MAX, "conv2d (cuDNN): ", what, " = ", v,
              " exceeds cuDNN's int range");
  return static_cast<int>(v);
}

// The four descriptors of one problem. x describes the (possibly padded) input cuDNN sees.
// Created empty and filled by init(), so the destructor frees whatever init() managed to create.
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  Descriptors() = default;
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
  ~Descriptors() {  // unchecked: a destructor must not throw
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
  }

  void init(const Conv2dGeometry& g, const CudnnPadding& pad, DType dtype, cudnnMathType_t math) {
    const cudnnDataType_t dt = data_type_of(dtype);
    const cudnnTensorFormat_t format = nchw_layout(dtype) ? CUDNN_TENSOR_NCHW : CUDNN_TENSOR_NHWC;
    EMBER_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    EMBER_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    EMBER_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    EMBER_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    // The descriptors take (n, c, h, w) sizes whatever the format.
    EMBER_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, format, dt, to_int(g.N, "N"),
                                                 to_int(g.C, "C"), to_int(pad.Hp, "H"),
                                                 to_int(pad.Wp, "W")));
    EMBER_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, format, dt, to_int(g.N, "N"),
                                                 to_int(g.K, "K"), to_int(g.P, "P"),
                                                 to_int(g.Q, "Q")));
    // KRSC filters are cuDNN's NHWC filter format (KCRS its NCHW one): (k, c / groups, r, s).
    EMBER_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, dt, format, to_int(g.K, "K"),
                                                 to_int(g.c_per_group(), "C / groups"),
                                                 to_int(g.R, "R"), to_int(g.S, "S")));
    EMBER_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
        conv, to_int(pad.pad_h, "pad_h"), to_int(pad.pad_w, "pad_w"),
        to_int(g.stride_h, "stride_h"), to_int(g.stride_w, "stride_w"), 1, 1,
        CUDNN_CROSS_CORRELATION, dt));
    EMBER_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv, to_int(g.groups, "groups")));
    EMBER_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, math));
    // The translation of the padding must reproduce the caller's output size exactly.
    int n = 0, k = 0, p = 0, q = 0;
    EMBER_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv, x, w, &n, &k, &p, &q));
    EMBER_CHECK(n == g.N && k == g.K && p == g.P && q == g.Q,
                "conv2d (cuDNN): internal error: cuDNN computes output ", n, "x", p, "x", q, "x",
                k, " but the geometry says ", g.N, "x", g.P, "x", g.Q, "x", g.K);
  }
};

template <typename Perf>
ConvAlgoCandidate candidate_of(const Perf& perf) {
  ConvAlgoCandidate c;
  c.algo = static_cast<int>(perf.algo);
  c.workspace = perf.memory;
  c.supported = perf.status == CUDNN_STATUS_SUCCESS;
  c.deterministic = perf.determinism == CUDNN_DETERMINISTIC;
  c.uses_tensor_ops = perf.mathType == CUDNN_TENSOR_OP_MATH ||
                      perf.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
  c.math_type = static_cast<int>(perf.mathType);
  return c;
}

template <typename Perf>
std::vector<ConvAlgoCandidate> candidates_of(const std::vector<Perf>& perf, int returned) {
  std::vector<ConvAlgoCandidate> out;
  for (int i = 0; i < returned; ++i) out.push_back(candidate_of(perf[i]));
  return out;
}

// The math type a candidate runs with: its own only where tensor ops are allowed.
cudnnMathType_t run_math(const ConvAlgoCandidate& c, bool tensor_ops) {
  return tensor_ops ? static_cast<cudnnMathType_t>(c.math_type) : CUDNN_FMA_MATH;
}

// Re-queries each supported candidate's workspace for the math type it will run with (which,
// without tensor ops, is CUDNN_FMA_MATH whatever cuDNN reported), so the plan never runs with
// a workspace sized for another kernel. An entry whose size query fails is dropped as
// unsupported (cuDNN has ranked configurations it then refuses to size). The descriptor's math
// type is restored afterwards.
void requery_workspaces(cudnnHandle_t h, const Descriptors& d, ConvDirection dir, bool tensor_ops,
                        std::vector<ConvAlgoCandidate>& candidates) {
  cudnnMathType_t query_math = CUDNN_FMA_MATH;
  EMBER_CUDNN_CHECK(cudnnGetConvolutionMathType(d.conv, &query_math));
  for (ConvAlgoCandidate& c : candidates) {
    if (!c.supported) continue;
    EMBER_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, run_math(c, tensor_ops)));
    size_t bytes = 0;
    cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
    switch (dir) {
      case ConvDirection::Forward:
        status = cudnnGetConvolutionForwardWorkspaceSize(
            h, d.x, d.w, d.conv, d.y, static_cast<cudnnConvolutionFwdAlgo_t>(c.algo), &bytes);
        break;
      case ConvDirection::InputGrad:
        status = cudnnGetConvolutionBackwardDataWorkspaceSize(
            h, d.w, d.y, d.conv, d.x, static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo), &bytes);
        break;
      case ConvDirection::WeightGrad:
        status = cudnnGetConvolutionBackwardFilterWorkspaceSize(
            h, d.x, d.y, d.conv, d.w, static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo),
            &bytes);
        break;
    }
    if (status != CUDNN_STATUS_SUCCESS) c.supported = false;
    else c.workspace = std::max(c.workspace, bytes);
  }
  EMBER_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, query_math));
}

// cuDNN's heuristic ranking, workspaces re-queried (requery_workspaces).
std::vector<ConvAlgoCandidate> heuristic_candidates(cudnnHandle_t h, const Descriptors& d,
                                                    ConvDirection dir, bool tensor_ops) {
  std::vector<ConvAlgoCandidate> out;
  int max = 0, returned = 0;
  switch (dir) {
    case ConvDirection::Forward: {
      EMBER_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max));
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(max);
      EMBER_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, max,
                                                               &returned, perf.data()));
      out = candidates_of(perf, returned);
      break;
    }
    case ConvDirection::InputGrad: {
      EMBER_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max));
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(max);
      EMBER_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x, max,
                                                                    &returned, perf.data()));
      out = candidates_of(perf, returned);
      break;
    }
    case ConvDirection::WeightGrad: {
      EMBER_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max));
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(max);
      EMBER_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
          h, d.x, d.y, d.conv, d.w, max, &returned, perf.data()));
      out = candidates_of(perf, returned);
      break;
    }
  }
  requery_workspaces(h, d, dir, tensor_ops, out);
  return out;
}

// Timed candidates (cudnnFind*AlgorithmEx, fastest first). x, w, y are the problem's three
// tensors; the one the direction writes points at a scratch buffer.
std::vector<ConvAlgoCandidate> timed_candidates(cudnnHandle_t h, const Descriptors& d,
                                                ConvDirection dir, void* x, void* w, void* y,
                                                void* workspace, size_t workspace_bytes) {
  int max = 0, returned = 0;
  switch (dir) {
    case ConvDirection::Forward: {
      EMBER_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max));
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(max);
      EMBER_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
          h, d.x, x, d.w, w, d.conv, d.y, y, max, &returned, perf.data(), workspace,
          workspace_bytes));
      return candidates_of(perf, returned);
    }
    case ConvDirection::InputGrad: {
      EMBER_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max));
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(max);
      EMBER_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
          h, d.w, w, d.y, y, d.conv, d.x, x, max, &returned, perf.data(), workspace,
          workspace_bytes));
      return candidates_of(perf, returned);
    }
    case ConvDirection::WeightGrad: {
      EMBER_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max));
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(max);
      EMBER_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
          h, d.x, x, d.y, y, d.conv, d.w, w, max, &returned, perf.data(), workspace,
          workspace_bytes));
      return candidates_of(perf, returned);
    }
  }
  return {};
}

std::string describe_candidates(const std::vector<ConvAlgoCandidate>& cs) {
  std::string s;
  for (const ConvAlgoCandidate& c : cs)
    s += detail::concat(" [algo ", c.algo, c.supported ? "" : " unsupported", ", ", c.workspace,
                        " B", c.deterministic ? ", deterministic" : "",
                        c.uses_tensor_ops ? ", tensor ops" : "", "]");
  return s.empty() ? " none" : s;
}

// Everything below is guarded by one mutex: the plan cache and the shared workspace (which a
// launch uses until it completes on the compute stream; later launches are ordered after it on
// the same stream, so handing the buffer to the next call is safe).
std::mutex& state_mutex() {
  static std::mutex m;
  return m;
}

std::unordered_map<std::string, ConvPlan>& plan_cache() {
  static std::unordered_map<std::string, ConvPlan> cache;
  return cache;
}

// The grow-only workspace of `device`, at least `bytes` long (nullptr for 0 bytes).
void* workspace(int device, size_t bytes) {
  // Never destroyed: freeing device memory from a static destructor at exit can run after the
  // CUDA runtime has shut down.
  static std::vector<Tensor>& buffers = *new std::vector<Tensor>();
  if (bytes == 0) return nullptr;
  if (static_cast<size_t>(device) >= buffers.size()) buffers.resize(device + 1);
  Tensor& buf = buffers[device];
  if (!buf.defined() || static_cast<size_t>(buf.numel()) < bytes) {
    buf = Tensor();  // release first, so the allocator can reuse the old block for the new one
    buf = empty({static_cast<int64_t>(bytes)}, {DType::UInt8, Device::cuda(device)});
  }
  return buf.raw_data();
}

ConvPlan choose_plan(cudnnHandle_t h, const Descriptors& d, ConvDirection dir,
                     const Conv2dGeometry& geo, const CudnnPadding& pad, DType dtype, int device,
                     const std::string& key, void* x, void* w, void* y) {
  const BackendSettings& settings = backend_settings();
  const bool tensor_ops = dtype == DType::Float32 && settings.allow_tf32;
  const size_t cap = cudnn_workspace_cap();
  std::vector<ConvAlgoCandidate> candidates = heuristic_candidates(h, d, dir, tensor_ops);
  std::optional<size_t> pick =
      select_conv_algo(candidates, cap, settings.deterministic, tensor_ops);
  if (settings.conv_autotune) {
    // Time every algorithm that fits in the largest workspace a heuristic candidate wants (at
    // most the cap); the output goes to scratch so the caller's tensor is written only once.
    size_t find_bytes = 0;
    for (const ConvAlgoCandidate& c : candidates)
      if (c.supported) find_bytes = std::max(find_bytes, std::min(c.workspace, cap));
    const int64_t out_elems = dir == ConvDirection::Forward     ? geo.N * geo.P * geo.Q * geo.K
                              : dir == ConvDirection::InputGrad ? geo.N * pad.Hp * pad.Wp * geo.C
                                                                : geo.K * geo.R * geo.S *
                                                                      geo.c_per_group();
    const Tensor scratch = empty({out_elems}, {dtype, Device::cuda(device)});
    void* out = scratch.raw_data();
    void* ws = workspace(device, find_bytes);
    std::vector<ConvAlgoCandidate> timed = timed_candidates(
        h, d, dir, dir == ConvDirection::InputGrad ? out : x,
        dir == ConvDirection::WeightGrad ? out : w, dir == ConvDirection::Forward ? out : y, ws,
        find_bytes);
    // Find runs every algorithm it can; one that fails is reported through its perf status but
    // may leave a non-sticky launch error in the runtime's last-error slot, which the next
    // EMBER_CUDA_CHECK_LAUNCH would blame on an innocent kernel. Clear it (ember's own launches
    // were checked when made, and a sticky fault would surface again at the next call).
    (void)cudaGetLastError();
    // Find reports the workspace of the math type it timed; the plan runs with run_math's, so
    // size that one (this also drops entries cuDNN cannot size). Keep tensor-op results out
    // unless allowed.
    requery_workspaces(h, d, dir, tensor_ops, timed);
    const std::optional<size_t> timed_pick =
        select_conv_algo(timed, cap, settings.deterministic, tensor_ops);
    if (timed_pick) {
      candidates = std::move(timed);
      pick = timed_pick;
    }
    // Freeing `scratch` here is safe without a sync: Find ran on the compute stream, and the
    // allocator reuses a block only for work ordered after it on that stream.
  }
  EMBER_CHECK(pick.has_value(), "conv2d (cuDNN): no usable algorithm for [", key,
              "] within the workspace cap of ", cap, " bytes (EMBER_CUDNN_WORKSPACE_MB)",
              settings.deterministic ? " among deterministic algorithms" : "",
              "; candidates:", describe_candidates(candidates));
  const ConvAlgoCandidate& c = candidates[*pick];
  return {c.algo, c.workspace, run_math(c, tensor_ops)};
}

// Runs one direction through cuDNN. x, w, y point at the problem's tensors as cuDNN sees them
// (x possibly the padded temporary); the direction says which one is written.
void run_cudnn(ConvDirection dir, const Conv2dGeometry& geo, const CudnnPadding& pad, DType dtype,
               int device, void* x, void* w, void* y) {
  const BackendSettings& settings = backend_settings();
  const bool tensor_ops = dtype == DType::Float32 && settings.allow_tf32;
  const std::string key = conv_plan_key(dir, geo, dtype, device, settings);
  std::lock_guard<std::mutex> lock(state_mutex());
  cudnnHandle_t h = ::ember::cuda::cudnn_handle(device);
  Descriptors d;
  d.init(geo, pad, dtype, tensor_ops ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH);
  auto it = plan_cache().find(key);
  if (it == plan_cache().end())
    it = plan_cache().emplace(key, choose_plan(h, d, dir, geo, pad, dtype, device, key, x, w, y))
             .first;
  const ConvPlan plan = it->second;
  EMBER_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, plan.math));
  void* ws = workspace(device, plan.workspace);
  const float one_f = 1.0f, zero_f = 0.0f;
  const double one_d = 1.0, zero_d = 0.0;
  const void* one = dtype == DType::Float64 ? static_cast<const void*>(&one_d) : &one_f;
  const void* zero = dtype == DType::Float64 ? static_cast<const void*>(&zero_d) : &zero_f;
  switch (dir) {
    case ConvDirection::Forward:
      EMBER_CUDNN_CHECK(cudnnConvolutionForward(h, one, d.x, x, d.w, w, d.conv,
                                                static_cast<cudnnConvolutionFwdAlgo_t>(plan.algo),
                                                ws, plan.workspace, zero, d.y, y));
      break;
    case ConvDirection::InputGrad:
      EMBER_CUDNN_CHECK(cudnnConvolutionBackwardData(
          h, one, d.w, w, d.y, y, d.conv, static_cast<cudnnConvolutionBwdDataAlgo_t>(plan.algo),
          ws, plan.workspace, zero, d.x, x));
      break;
    case ConvDirection::WeightGrad:
      EMBER_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
          h, one, d.x, x, d.y, y, d.conv, static_cast<cudnnConvolutionBwdFilterAlgo_t>(plan.algo),
          ws, plan.workspace, zero, d.w, w));
      break;
  }
  // In EMBER_CUDA_SYNC mode, a fault inside cuDNN's kernels is reported here, naming the call.
  EMBER_CUDA_CHECK_LAUNCH(dir == ConvDirection::Forward     ? "cudnnConvolutionForward"
                          : dir == ConvDirection::InputGrad ? "cudnnConvolutionBackwardData"
                                                            : "cudnnConvolutionBackwardFilter");
}

void zero_fill(const Tensor& t) {
  EMBER_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, t.numel() * dtype_size(t.dtype()),
                                   ::ember::cuda::compute_stream()));
}

bool use_ember_depthwise(const Conv2dGeometry& geo) {
  return is_depthwise(geo) && backend_settings().depthwise_impl == DepthwiseImpl::Ember;
}

// x as cuDNN sees it: x itself, or a zero-padded copy when the padding is asymmetric.
Tensor padded_input(const Tensor& x, const Conv2dGeometry& geo, const CudnnPadding& pad) {
  if (!pad.needs_temporary()) return x;
  Tensor xp = empty({geo.N, pad.Hp, pad.Wp, geo.C}, {x.dtype(), x.device()});
  pad_nhwc(xp, x, pad.off_h, pad.off_w);
  return xp;
}

// cuDNN's vectorised kernels (and Hopper's TMA loads) assume 16-byte aligned operands, while a
// contiguous view may start at any element: such tensors go through an aligned copy.
bool aligned16(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw_data()) % 16 == 0; }

void copy_bytes(const Tensor& dst, const Tensor& src) {
  EMBER_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(),
                                   src.numel() * dtype_size(src.dtype()),
                                   cudaMemcpyDeviceToDevice, ::ember::cuda::compute_stream()));
}

// A 4-D NHWC (or KRSC) input in cuDNN's layout for its dtype, 16-byte aligned: itself, an NCHW
// copy, or an aligned copy.
Tensor to_cudnn_layout(const Tensor& t) {
  if (nchw_layout(t.dtype())) {
    Tensor d = empty({t.size(0), t.size(3), t.size(1), t.size(2)}, {t.dtype(), t.device()});
    nhwc_to_nchw(d, t);
    return d;
  }
  if (aligned16(t)) return t;
  Tensor d = empty(t.shape(), {t.dtype(), t.device()});
  copy_bytes(d, t);
  return d;
}

// Where cuDNN writes a result meant for `t` (NHWC / KRSC): t itself, or a temporary (NCHW, or
// aligned) that from_cudnn_layout copies back.
Tensor cudnn_output_for(const Tensor& t) {
  if (nchw_layout(t.dtype()))
    return empty({t.size(0), t.size(3), t.size(1), t.size(2)}, {t.dtype(), t.device()});
  return aligned16(t) ? t : empty(t.shape(), {t.dtype(), t.device()});
}

void from_cudnn_layout(const Tensor& t, const Tensor& written) {
  if (written.same(t)) return;
  if (nchw_layout(t.dtype())) nchw_to_nhwc(t, written);
  else copy_bytes(t, written);
}

}  // namespace

void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias,
                    const Conv2dGeometry& geo) {
  if (y.numel() == 0) return;
  if (x.numel() == 0 || w.numel() == 0) {  // an empty sum (e.g. C == 0, or H == 0 with padding)
    zero_fill(y);
    if (bias.defined()) add_channel_bias(y, bias);
    return;
  }
  if (use_ember_depthwise(geo)) {
    depthwise_forward(y, x, w, bias, geo);
    return;
  }
  const CudnnPadding pad = cudnn_padding(geo);
  const Tensor xc = to_cudnn_layout(padded_input(x, geo, pad));
  const Tensor wc = to_cudnn_layout(w);
  const Tensor yc = cudnn_output_for(y);
  run_cudnn(ConvDirection::Forward, geo, pad, y.dtype(), y.device().index, xc.raw_data(),
            wc.raw_data(), yc.raw_data());
  from_cudnn_layout(y, yc);
  if (bias.defined()) add_channel_bias(y, bias);
}

void conv2d_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w,
                       const Conv2dGeometry& geo) {
  if (dx.numel() == 0) return;
  if (dy.numel() == 0 || w.numel() == 0) {  // K == 0: nothing reads x
    zero_fill(dx);
    return;
  }
  if (use_ember_depthwise(geo)) {
    depthwise_input_grad(dx, dy, w, geo);
    return;
  }
  const CudnnPadding pad = cudnn_padding(geo);
  // With asymmetric padding cuDNN computes the gradient of the padded input; x's is a slice.
  const Tensor target = pad.needs_temporary()
                            ? empty({geo.N, pad.Hp, pad.Wp, geo.C}, {dx.dtype(), dx.device()})
                            : dx;
  const Tensor tc = cudnn_output_for(target);
  const Tensor dyc = to_cudnn_layout(dy);
  const Tensor wc = to_cudnn_layout(w);
  run_cudnn(ConvDirection::InputGrad, geo, pad, dx.dtype(), dx.device().index, tc.raw_data(),
            wc.raw_data(), dyc.raw_data());
  from_cudnn_layout(target, tc);
  if (pad.needs_temporary()) crop_nhwc(dx, target, pad.off_h, pad.off_w);
}

void conv2d_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy,
                        const Conv2dGeometry& geo) {
  if (dw.numel() == 0) return;
  if (x.numel() == 0 || dy.numel() == 0) {  // an empty sum over the batch or the pixels
    zero_fill(dw);
    return;
  }
  if (use_ember_depthwise(geo)) {
    depthwise_weight_grad(dw, x, dy, geo);
    return;
  }
  const CudnnPadding pad = cudnn_padding(geo);
  const Tensor xc = to_cudnn_layout(padded_input(x, geo, pad));
  const Tensor dyc = to_cudnn_layout(dy);
  const Tensor dwc = cudnn_output_for(dw);
  run_cudnn(ConvDirection::WeightGrad, geo, pad, dw.dtype(), dw.device().index, xc.raw_data(),
            dwc.raw_data(), dyc.raw_data());
  from_cudnn_layout(dw, dwc);
}

}  // namespace ember::kernels::cuda

#pragma GCC diagnostic pop
