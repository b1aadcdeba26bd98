// The cuDNN side of the CUDA convolutions: the per-key plan cache (descriptors and chosen
// algorithm), the shared workspace and the three cuDNN calls. kernels/cuda/conv.cpp decides what
// reaches cuDNN (layouts, padding, ember's depthwise kernels) and calls run_cudnn.
// Tested against the CPU in tests/test_cuda_conv.cpp; the host-side decisions (key, workspace
// cap, algorithm choice, fallback order) live in kernels/conv_plan.{h,cpp}, tested on the CPU.
//
// Policy (details and reasons in docs/cudnn.md):
// - The algorithm is chosen once per full problem key (kernels/conv_plan.h: direction, device,
//   dtype, every dimension, stride, pad, groups, TF32 / determinism / autotune settings) and
//   cached together with the problem's cuDNN descriptors, so a repeated call makes only the
//   cuDNN call; chosen by cuDNN's heuristics (cudnnGet*Algorithm_v7), or with autotuning by
//   timing (cudnnFind*AlgorithmEx) once per key into scratch outputs; when neither offers a
//   usable algorithm, by probing every algorithm of the direction (fallback_algo_order).
// - One grow-only workspace per device (a byte Tensor from the device allocator), capped by
//   EMBER_CUDNN_WORKSPACE_MB (default 1 GiB); a choice over the cap falls back to the
//   smallest-workspace algorithm that fits (select_conv_algo).
// - float32 runs with CUDNN_FMA_MATH (exact fp32: CUDNN_DEFAULT_MATH would allow TF32 on
//   Ampere and Hopper) unless allow_tf32; float64 always with CUDNN_FMA_MATH.
//
// Why the legacy API: cuDNN 9.19 still ships cudnnConvolutionForward / BackwardData /
// BackwardFilter (deprecated in favour of the backend graph API). They are well-understood,
// cover NHWC, groups and float64, and keep this file small; the deprecation attributes are
// only emitted when CUDNN_WARN_DEPRECATED is defined, and are silenced here regardless so a
// future header that enables them does not bury real warnings.
#include "kernels/cuda/cudnn_conv.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/backend_settings.h"
#include "kernels/conv_plan.h"
#include "kernels/cuda/conv_cuda.h"
#include "kernels/cuda/cudnn_context.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace ember::kernels::cuda {

namespace {


// fallback_algo_order (kernels/conv_plan.cpp) names algorithms by these enum values.
static_assert(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM == 0 &&
              CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM == 1 &&
              CUDNN_CONVOLUTION_FWD_ALGO_GEMM == 2 && CUDNN_CONVOLUTION_FWD_ALGO_DIRECT == 3 &&
              CUDNN_CONVOLUTION_FWD_ALGO_FFT == 4 && CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING == 5 &&
              CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD == 6 &&
              CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED == 7 &&
              CUDNN_CONVOLUTION_FWD_ALGO_COUNT == 8);
static_assert(CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 == 0 && CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 == 1 &&
              CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT == 2 &&
              CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING == 3 &&
              CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD == 4 &&
              CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED == 5 &&
              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT == 6);
static_assert(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 == 0 &&
              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 == 1 &&
              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT == 2 &&
              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3 == 3 &&
              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD == 4 &&
              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED == 5 &&
              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING == 6 &&
              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT == 7);

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


int to_int(int64_t v, const char* what) {
  EMBER_CHECK(v >= 0 && v <= INT_MAX, "conv2d (cuDNN): ", what, " = ", v,
              " exceeds cuDNN's int range");
  return static_cast<int>(v);
}

// The four descriptors of one problem, owned by its cached PlanEntry (created once per key,
// destroyed with the entry). x describes the (possibly padded) input cuDNN sees. Created empty
// and filled by init(), so the destructor frees whatever init() managed to create.
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

// cuDNN's workspace size for `algo` under the math type currently set on d.conv; a status other
// than success means cuDNN does not support the algorithm for this problem.
cudnnStatus_t query_workspace(cudnnHandle_t h, const Descriptors& d, ConvDirection dir, int algo,
                              size_t* bytes) {
  switch (dir) {
    case ConvDirection::Forward:
      return cudnnGetConvolutionForwardWorkspaceSize(
          h, d.x, d.w, d.conv, d.y, static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
    case ConvDirection::InputGrad:
      return cudnnGetConvolutionBackwardDataWorkspaceSize(
          h, d.w, d.y, d.conv, d.x, static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
    case ConvDirection::WeightGrad:
      return cudnnGetConvolutionBackwardFilterWorkspaceSize(
          h, d.x, d.y, d.conv, d.w, static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), bytes);
  }
  return CUDNN_STATUS_BAD_PARAM;
}

// A failed probe leaves its detail in cuDNN's per-thread last-error message, which
// throw_cudnn_error appends to the next report; read it here so a later, unrelated failure is
// not reported with a probe's text.
void drop_cudnn_last_error() {
  char discard[256];
  cudnnGetLastErrorString(discard, sizeof(discard));
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
    if (query_workspace(h, d, dir, c.algo, &bytes) != CUDNN_STATUS_SUCCESS) c.supported = false;
    else c.workspace = std::max(c.workspace, bytes);
  }
  drop_cudnn_last_error();
  EMBER_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, query_math));
}

// The fallback when heuristics and timing left nothing usable: every algorithm of the direction
// in fallback_algo_order, its workspace queried under `math` (the math type the plan will run
// with); an algorithm whose query fails stays marked unsupported.
std::vector<ConvAlgoCandidate> probe_all_algorithms(cudnnHandle_t h, const Descriptors& d,
                                                    ConvDirection dir, cudnnMathType_t math) {
  EMBER_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, math));
  std::vector<ConvAlgoCandidate> probed = fallback_algo_order(dir);
  for (ConvAlgoCandidate& c : probed) {
    size_t bytes = 0;
    c.supported = query_workspace(h, d, dir, c.algo, &bytes) == CUDNN_STATUS_SUCCESS;
    c.workspace = c.supported ? bytes : 0;
    c.math_type = static_cast<int>(math);
    // Under CUDNN_DEFAULT_MATH (TF32 allowed) cuDNN may use tensor ops, which is allowed then.
    c.uses_tensor_ops = false;
  }
  drop_cudnn_last_error();
  return probed;
}

// cuDNN's heuristic ranking, workspaces re-queried (requery_workspaces). A failing heuristics
// call is not fatal: it is recorded in *status and the list comes back empty, so the fallback
// probes the algorithms one by one (and the final error, if any, names that status).
std::vector<ConvAlgoCandidate> heuristic_candidates(cudnnHandle_t h, const Descriptors& d,
                                                    ConvDirection dir, bool tensor_ops,
                                                    cudnnStatus_t* status) {
  std::vector<ConvAlgoCandidate> out;
  int max = 0, returned = 0;
  switch (dir) {
    case ConvDirection::Forward: {
      EMBER_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max));
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(max);
      *status = cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, max, &returned,
                                                       perf.data());
      if (*status == CUDNN_STATUS_SUCCESS) out = candidates_of(perf, returned);
      break;
    }
    case ConvDirection::InputGrad: {
      EMBER_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max));
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(max);
      *status = cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x, max,
                                                            &returned, perf.data());
      if (*status == CUDNN_STATUS_SUCCESS) out = candidates_of(perf, returned);
      break;
    }
    case ConvDirection::WeightGrad: {
      EMBER_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max));
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(max);
      *status = cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x, d.y, d.conv, d.w, max,
                                                              &returned, perf.data());
      if (*status == CUDNN_STATUS_SUCCESS) out = candidates_of(perf, returned);
      break;
    }
  }
  if (*status != CUDNN_STATUS_SUCCESS) drop_cudnn_last_error();
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

// Host threads: execution is single-stream (every cuDNN call and every ember kernel runs on the
// device's compute stream, in call order), so what needs guarding is host-side state only. One
// mutex covers the plan cache, the cached descriptors and the shared workspace, and is held
// from the lookup until the cuDNN call has been enqueued: two threads calling convolutions then
// neither insert into the map at once nor hand one workspace to two concurrent enqueues. (A
// launch uses the workspace until it completes on the stream; later launches are ordered after
// it on the same stream, so handing the buffer to the next call is safe.)
std::mutex& state_mutex() {
  static std::mutex m;
  return m;
}

// One cached problem: the descriptors of the problem cuDNN sees (with asymmetric padding, the
// padded temporary's input size and pads 0 in that dimension), the convolution descriptor's
// math type already set to the plan's, and the chosen algorithm. Created once per key by
// plan_for; destroying the entry destroys its descriptors (Descriptors' destructor), so an
// exception while choosing leaks nothing.
struct PlanEntry {
  Descriptors desc;
  ConvPlan plan;
};

using PlanCache = std::unordered_map<ConvPlanKey, std::unique_ptr<PlanEntry>, ConvPlanKeyHash>;

// Never destroyed, like the handles and the workspaces: a static destructor would call
// cudnnDestroy*Descriptor at exit, when cuDNN's lazily loaded sub-libraries may already have been
// finalised. Entries (and their descriptors) are destroyed by clear_cudnn_plan_cache.
PlanCache& plan_cache() {
  static PlanCache& cache = *new PlanCache();
  return cache;
}

// Test hook (set_cudnn_fallback_only): skip heuristics and timing so every new key takes the
// fallback. Read and written under state_mutex().
bool fallback_only = false;

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

const char* math_name(cudnnMathType_t math) {
  switch (math) {
    case CUDNN_DEFAULT_MATH: return "CUDNN_DEFAULT_MATH";
    case CUDNN_TENSOR_OP_MATH: return "CUDNN_TENSOR_OP_MATH";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION";
    case CUDNN_FMA_MATH: return "CUDNN_FMA_MATH";
  }
  return "unknown math type";
}

// Chooses the algorithm of a new key. d's convolution descriptor carries the query math type
// (CUDNN_DEFAULT_MATH when TF32 is allowed, CUDNN_FMA_MATH otherwise). Order: heuristics, then
// (when autotuning) timing, then, when neither left a usable candidate, every algorithm of the
// direction probed one by one (fallback_algo_order); throws only when that finds nothing either.
ConvPlan choose_plan(cudnnHandle_t h, const Descriptors& d, ConvDirection dir,
                     const Conv2dGeometry& geo, const CudnnPadding& pad, DType dtype, int device,
                     const BackendSettings& settings, void* x, void* w, void* y) {
  const bool tensor_ops = dtype == DType::Float32 && settings.allow_tf32;
  const cudnnMathType_t query_math = tensor_ops ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  const size_t cap = cudnn_workspace_cap();
  cudnnStatus_t heuristics_status = CUDNN_STATUS_SUCCESS;
  std::vector<ConvAlgoCandidate> candidates;
  if (!fallback_only) candidates = heuristic_candidates(h, d, dir, tensor_ops, &heuristics_status);
  const std::vector<ConvAlgoCandidate> heuristic = candidates;  // for the error message
  std::optional<size_t> pick =
      select_conv_algo(candidates, cap, settings.deterministic, tensor_ops);
  std::vector<ConvAlgoCandidate> timed;
  // Timing needs working heuristics (for the workspace size); when their call failed, Find would
  // most likely fail the same way and throw, so go straight to the fallback.
  if (settings.conv_autotune && !fallback_only && heuristics_status == CUDNN_STATUS_SUCCESS) {
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
    timed = timed_candidates(h, d, dir, dir == ConvDirection::InputGrad ? out : x,
                             dir == ConvDirection::WeightGrad ? out : w,
                             dir == ConvDirection::Forward ? out : y, ws, find_bytes);
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
      candidates = timed;
      pick = timed_pick;
    }
    // Freeing `scratch` here is safe without a sync: Find ran on the compute stream, and the
    // allocator reuses a block only for work ordered after it on that stream.
  }
  if (!pick) {
    // Nothing usable from cuDNN's lists (seen for some grouped NHWC float32 problems under
    // CUDNN_FMA_MATH): try every algorithm of the direction under the math type the plan must
    // run with.
    std::vector<ConvAlgoCandidate> probed = probe_all_algorithms(h, d, dir, query_math);
    pick = select_fallback_algo(probed, cap, settings.deterministic);
    if (!pick) {
      const char* heuristics_text =
          fallback_only ? " (skipped by the test hook)"
          : heuristics_status == CUDNN_STATUS_SUCCESS
              ? ""
              : " (the heuristics call failed)";
      EMBER_FAIL("conv2d (cuDNN): no usable algorithm for [",
                 conv_plan_key(dir, geo, dtype, device, settings), "] within the workspace cap of ",
                 cap, " bytes (EMBER_CUDNN_WORKSPACE_MB)",
                 settings.deterministic ? " among deterministic algorithms" : "",
                 "; heuristics", heuristics_text, ":", describe_candidates(heuristic),
                 heuristics_status == CUDNN_STATUS_SUCCESS
                     ? std::string()
                     : std::string(" ") + cudnnGetErrorString(heuristics_status),
                 settings.conv_autotune ? "; timed:" + describe_candidates(timed) : std::string(),
                 "; every algorithm probed under ", math_name(query_math), ":",
                 describe_candidates(probed));
    }
    candidates = std::move(probed);
  }
  const ConvAlgoCandidate& c = candidates[*pick];
  return {c.algo, c.workspace, run_math(c, tensor_ops)};
}

// The cached entry of `key`, created (descriptors, then the algorithm choice) on first use.
// Call with state_mutex() held.
const PlanEntry& plan_for(const ConvPlanKey& key, cudnnHandle_t h, ConvDirection dir,
                          const Conv2dGeometry& geo, const CudnnPadding& pad, DType dtype,
                          int device, const BackendSettings& settings, void* x, void* w,
                          void* y) {
  PlanCache& cache = plan_cache();
  const auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto entry = std::make_unique<PlanEntry>();
  const bool tensor_ops = dtype == DType::Float32 && settings.allow_tf32;
  entry->desc.init(geo, pad, dtype, tensor_ops ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH);
  entry->plan = choose_plan(h, entry->desc, dir, geo, pad, dtype, device, settings, x, w, y);
  // Set once here, so a cache hit touches no descriptor.
  EMBER_CUDNN_CHECK(cudnnSetConvolutionMathType(entry->desc.conv, entry->plan.math));
  return *cache.emplace(key, std::move(entry)).first->second;
}

}  // namespace

// Runs one direction through cuDNN. x, w, y point at the problem's tensors as cuDNN sees them
// (x possibly the padded temporary); the direction says which one is written. On a cache hit
// the host work is the key, one hash lookup and the cuDNN call.
void run_cudnn(ConvDirection dir, const Conv2dGeometry& geo, const CudnnPadding& pad, DType dtype,
               int device, void* x, void* w, void* y) {
  // A copy, so the key and the choice see the same settings even if another thread flips one.
  const BackendSettings settings = backend_settings();
  const ConvPlanKey key = make_conv_plan_key(dir, geo, dtype, device, settings);
  std::lock_guard<std::mutex> lock(state_mutex());
  cudnnHandle_t h = ::ember::cuda::cudnn_handle(device);
  const PlanEntry& entry = plan_for(key, h, dir, geo, pad, dtype, device, settings, x, w, y);
  const Descriptors& d = entry.desc;
  const ConvPlan& plan = entry.plan;
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

size_t cudnn_plan_cache_size() {
  std::lock_guard<std::mutex> lock(state_mutex());
  return plan_cache().size();
}

void clear_cudnn_plan_cache() {
  // Safe while earlier calls are still running on the stream: descriptors are host objects whose
  // contents cuDNN copied into its launches when they were enqueued.
  std::lock_guard<std::mutex> lock(state_mutex());
  plan_cache().clear();
}

void set_cudnn_fallback_only(bool on) {
  std::lock_guard<std::mutex> lock(state_mutex());
  fallback_only = on;
}

}  // namespace ember::kernels::cuda

#pragma GCC diagnostic pop
