// The cuDNN side of the CUDA convolutions: the per-key plan cache (descriptors and chosen
// algorithm), the shared workspace and the three cuDNN calls. kernels/cuda/conv.cpp decides what
// reaches cuDNN (layouts, padding, ember's depthwise kernels) and calls run_cudnn.
// Tested against the CPU in tests/test_cuda_conv.cpp; the host-side decisions (key, workspace
// cap, algorithm choice, fallback order) live in kernels/conv_plan.{h,cpp}, tested on the CPU.
//
// Policy (details and reasons in docs/cudnn.md):
// - The algorithm is chosen once per full problem key (kernels/conv_plan.h: direction, device,
//   dtype, layout, every dimension, stride, pad, groups, TF32 / determinism / autotune
//   settings) and cached together with the problem's cuDNN descriptors, so a repeated call
//   makes only the cuDNN call. Candidates come from cuDNN's heuristics (cudnnGet*Algorithm_v7),
//   with autotuning from timing (cudnnFind*AlgorithmEx, once per key into scratch outputs), and
//   are run in order on the first call until one succeeds: a plan is cached only after its
//   algorithm has run (cuDNN may rank an algorithm that then refuses to run). When none of them
//   runs, every other algorithm of the direction is probed and tried (fallback_algo_order); when
//   nothing runs at all, the key is marked unusable and kernels/cuda/conv.cpp moves the float32
//   problem to the NCHW layout. set_cudnn_run_failure injects such failures in tests.
// - One grow-only workspace per device (a byte Tensor from the device allocator), capped by
//   EMBER_CUDNN_WORKSPACE_MB (default 1 GiB); a choice over the cap falls back to the
//   smallest-workspace algorithm that fits (select_conv_algo).
// - float32 runs with CUDNN_FMA_MATH (exact fp32: CUDNN_DEFAULT_MATH would allow TF32 on
//   Ampere and Hopper) unless allow_tf32; float64 always with CUDNN_FMA_MATH; bfloat16 (the
//   bf16 precision, docs/mixed_precision.md) as cuDNN's PSEUDO_BFLOAT16_CONFIG, bf16 tensors
//   with a float compute type, tensor cores allowed.
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
    case DType::BFloat16: return CUDNN_DATA_BFLOAT16;
    default:
      EMBER_FAIL("conv2d (cuDNN): expected float32, float64 or bfloat16, got ", dtype_name(dtype));
  }
}

// The convolution descriptor's compute type: the data type itself, except bfloat16 data, which
// cuDNN accumulates in float (its PSEUDO_BFLOAT16_CONFIG: bf16 x, w and y, float compute).
cudnnDataType_t compute_type_of(DType dtype) {
  return dtype == DType::BFloat16 ? CUDNN_DATA_FLOAT : data_type_of(dtype);
}

// Whether tensor cores may run the problem: float32 only when TF32 is allowed; bfloat16 always
// (its products are exact in float32, and tensor cores are what bf16 is for).
bool allows_tensor_ops(DType dtype, const BackendSettings& settings) {
  return dtype == DType::BFloat16 || (dtype == DType::Float32 && settings.allow_tf32);
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

  void init(const Conv2dGeometry& g, const CudnnPadding& pad, DType dtype, CudnnLayout layout,
            cudnnMathType_t math) {
    const cudnnDataType_t dt = data_type_of(dtype);
    const cudnnTensorFormat_t format =
        layout == CudnnLayout::Nchw ? CUDNN_TENSOR_NCHW : CUDNN_TENSOR_NHWC;
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
        CUDNN_CROSS_CORRELATION, compute_type_of(dtype)));
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

// cuDNN's heuristic ranking, with the workspaces it reports for the query math type (each
// candidate's is re-queried for its run math type only when it is tried). A failing heuristics
// call is not fatal: it is recorded in *status and the list comes back empty, so the fallback
// probes the algorithms one by one (and the final error, if any, names that status).
std::vector<ConvAlgoCandidate> heuristic_candidates(cudnnHandle_t h, const Descriptors& d,
                                                    ConvDirection dir, cudnnStatus_t* status) {
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
// plan_and_run; destroying the entry destroys its descriptors (Descriptors' destructor), so an
// exception while choosing leaks nothing.
struct PlanEntry {
  Descriptors desc;
  ConvPlan plan;
  bool unusable = false;  // no algorithm ran: the caller goes to its next layout
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

// The candidates of a new key in the order they are run until one succeeds. d's convolution
// descriptor carries the query math type (CUDNN_DEFAULT_MATH when TF32 is allowed,
// CUDNN_FMA_MATH otherwise). Heuristics, then (when autotuning) timing; the workspaces are those
// reported for the query math type, re-queried for the run math type just before each try.
// *notes collects what a final error reports.
std::vector<ConvAlgoCandidate> ranked_candidates(cudnnHandle_t h, const Descriptors& d,
                                                 ConvDirection dir, const Conv2dGeometry& geo,
                                                 const CudnnPadding& pad, DType dtype, int device,
                                                 const BackendSettings& settings, void* x,
                                                 void* w, void* y, std::string* notes) {
  const bool tensor_ops = allows_tensor_ops(dtype, settings);
  const size_t cap = cudnn_workspace_cap();
  if (fallback_only) {
    *notes += "; heuristics skipped by the test hook";
    return {};
  }
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  std::vector<ConvAlgoCandidate> candidates = heuristic_candidates(h, d, dir, &status);
  *notes += "; heuristics" +
            (status == CUDNN_STATUS_SUCCESS
                 ? std::string()
                 : std::string(" (the call failed: ") + cudnnGetErrorString(status) + ")") +
            ":" + describe_candidates(candidates);
  // Timing needs working heuristics (for the workspace size); when their call failed, Find would
  // most likely fail the same way and throw, so go straight to the fallback.
  if (settings.conv_autotune && status == CUDNN_STATUS_SUCCESS) {
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
    std::vector<ConvAlgoCandidate> timed =
        timed_candidates(h, d, dir, dir == ConvDirection::InputGrad ? out : x,
                         dir == ConvDirection::WeightGrad ? out : w,
                         dir == ConvDirection::Forward ? out : y, ws, find_bytes);
    // Find runs every algorithm it can; one that fails is reported through its perf status but
    // may leave a non-sticky launch error in the runtime's last-error slot, which the next
    // EMBER_CUDA_CHECK_LAUNCH would blame on an innocent kernel. Clear it (ember's own launches
    // were checked when made, and a sticky fault would surface again at the next call).
    (void)cudaGetLastError();
    *notes += "; timed:" + describe_candidates(timed);
    // Timed results first (fastest first), then the heuristics' others.
    if (!conv_algo_try_order(timed, cap, settings.deterministic, tensor_ops).empty())
      candidates.insert(candidates.begin(), timed.begin(), timed.end());
    // Freeing `scratch` here is safe without a sync: Find ran on the compute stream, and the
    // allocator reuses a block only for work ordered after it on that stream.
  }
  std::vector<ConvAlgoCandidate> ordered;
  for (size_t i : conv_algo_try_order(candidates, cap, settings.deterministic, tensor_ops)) {
    bool seen = false;  // timing and heuristics may both list an algorithm
    for (const ConvAlgoCandidate& o : ordered) seen = seen || o.algo == candidates[i].algo;
    if (!seen) ordered.push_back(candidates[i]);
  }
  return ordered;
}

// Test hook (set_cudnn_run_failure): a failure injected into the run of chosen algorithms.
// Read and written under state_mutex().
CudnnRunFailure& injected_failure() {
  static CudnnRunFailure& hook = *new CudnnRunFailure();
  return hook;
}

// Runs the cuDNN call of `dir` with algorithm `algo` and a workspace of `ws_bytes` bytes.
cudnnStatus_t run_algorithm(cudnnHandle_t h, const Descriptors& d, ConvDirection dir,
                            CudnnLayout layout, int algo, DType dtype, void* ws, size_t ws_bytes,
                            void* x, void* w, void* y) {
  if (injected_failure() && injected_failure()(dir, layout, algo)) return CUDNN_STATUS_NOT_SUPPORTED;
  const float one_f = 1.0f, zero_f = 0.0f;
  const double one_d = 1.0, zero_d = 0.0;
  const void* one = dtype == DType::Float64 ? static_cast<const void*>(&one_d) : &one_f;
  const void* zero = dtype == DType::Float64 ? static_cast<const void*>(&zero_d) : &zero_f;
  switch (dir) {
    case ConvDirection::Forward:
      return cudnnConvolutionForward(h, one, d.x, x, d.w, w, d.conv,
                                     static_cast<cudnnConvolutionFwdAlgo_t>(algo), ws, ws_bytes,
                                     zero, d.y, y);
    case ConvDirection::InputGrad:
      return cudnnConvolutionBackwardData(h, one, d.w, w, d.y, y, d.conv,
                                          static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), ws,
                                          ws_bytes, zero, d.x, x);
    case ConvDirection::WeightGrad:
      return cudnnConvolutionBackwardFilter(h, one, d.x, x, d.y, y, d.conv,
                                            static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo),
                                            ws, ws_bytes, zero, d.w, w);
  }
  return CUDNN_STATUS_BAD_PARAM;
}

// Tries `candidates` in order on the caller's operands: the workspace of each re-queried under
// the math type it runs with (dropped when the query fails or it exceeds the cap), then run.
// Returns the plan of the first that ran, after setting it on d; nullopt when none did (each
// attempt's outcome appended to *notes).
std::optional<ConvPlan> run_first_that_works(cudnnHandle_t h, Descriptors& d, ConvDirection dir,
                                             CudnnLayout layout, DType dtype, bool tensor_ops,
                                             const std::vector<ConvAlgoCandidate>& candidates,
                                             int device, void* x, void* w, void* y,
                                             std::string* notes) {
  const size_t cap = cudnn_workspace_cap();
  for (const ConvAlgoCandidate& c : candidates) {
    const cudnnMathType_t math = run_math(c, tensor_ops);
    EMBER_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, math));
    size_t bytes = 0;
    const cudnnStatus_t sized = query_workspace(h, d, dir, c.algo, &bytes);
    if (sized != CUDNN_STATUS_SUCCESS || bytes > cap) {
      drop_cudnn_last_error();
      *notes += detail::concat(" [algo ", c.algo, ": ",
                               sized != CUDNN_STATUS_SUCCESS ? cudnnGetErrorString(sized)
                                                             : "workspace over the cap",
                               "]");
      continue;
    }
    void* ws = workspace(device, bytes);
    const cudnnStatus_t ran = run_algorithm(h, d, dir, layout, c.algo, dtype, ws, bytes, x, w, y);
    if (ran == CUDNN_STATUS_SUCCESS) return ConvPlan{c.algo, bytes, math};
    drop_cudnn_last_error();
    (void)cudaGetLastError();  // a refused launch may leave a non-sticky launch error
    *notes += detail::concat(" [algo ", c.algo, " failed to run: ", cudnnGetErrorString(ran), "]");
  }
  return std::nullopt;
}

// A key seen for the first time: its descriptors, then its candidates run one after the other
// on the caller's operands (so this call's result is computed by the first that works); the
// plan is cached only once an algorithm has run. When none runs, the key is cached as unusable
// (later calls go straight to the caller's next layout) and false is returned, or, with
// `last_resort`, the error names every attempt. Call with state_mutex() held.
bool plan_and_run(const ConvPlanKey& key, cudnnHandle_t h, ConvDirection dir,
                  const Conv2dGeometry& geo, const CudnnPadding& pad, DType dtype,
                  CudnnLayout layout, int device, const BackendSettings& settings, void* x,
                  void* w, void* y, bool last_resort) {
  auto entry = std::make_unique<PlanEntry>();
  const bool tensor_ops = allows_tensor_ops(dtype, settings);
  const cudnnMathType_t query_math = tensor_ops ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  entry->desc.init(geo, pad, dtype, layout, query_math);
  std::string notes;
  std::vector<ConvAlgoCandidate> ranked = ranked_candidates(h, entry->desc, dir, geo, pad, dtype,
                                                            device, settings, x, w, y, &notes);
  notes += "; tried:";
  std::optional<ConvPlan> plan = run_first_that_works(h, entry->desc, dir, layout, dtype,
                                                      tensor_ops, ranked, device, x, w, y, &notes);
  if (!plan) {
    // Nothing from cuDNN's lists ran (seen for some grouped NHWC float32 problems under
    // CUDNN_FMA_MATH): every other algorithm of the direction, probed under the run math type.
    std::vector<ConvAlgoCandidate> probed = probe_all_algorithms(h, entry->desc, dir, query_math);
    notes += "; every algorithm probed under " + std::string(math_name(query_math)) + ":" +
             describe_candidates(probed) + "; tried:";
    std::vector<ConvAlgoCandidate> rest;
    for (size_t i : fallback_try_order(probed, cudnn_workspace_cap(), settings.deterministic)) {
      bool tried = false;
      for (const ConvAlgoCandidate& r : ranked) tried = tried || r.algo == probed[i].algo;
      if (!tried) rest.push_back(probed[i]);
    }
    plan = run_first_that_works(h, entry->desc, dir, layout, dtype, tensor_ops, rest, device, x,
                                w, y, &notes);
  }
  if (!plan) {
    EMBER_CHECK(!last_resort, "conv2d (cuDNN): no algorithm ran for [",
                conv_plan_key(dir, geo, dtype, device, settings, layout),
                "] within the workspace cap of ", cudnn_workspace_cap(),
                " bytes (EMBER_CUDNN_WORKSPACE_MB)",
                settings.deterministic ? " among deterministic algorithms" : "", notes);
    entry->unusable = true;
    plan_cache().emplace(key, std::move(entry));
    return false;
  }
  // The math type stays set on the descriptor, so a cache hit touches no descriptor.
  entry->plan = *plan;
  plan_cache().emplace(key, std::move(entry));
  return true;
}

}  // namespace

// Runs one direction through cuDNN. x, w, y point at the problem's tensors as cuDNN sees them
// (x possibly the padded temporary); the direction says which one is written. On a cache hit
// the host work is the key, one hash lookup and the cuDNN call.
bool run_cudnn(ConvDirection dir, const Conv2dGeometry& geo, const CudnnPadding& pad, DType dtype,
               CudnnLayout layout, int device, void* x, void* w, void* y, bool last_resort) {
  // A copy, so the key and the choice see the same settings even if another thread flips one.
  const BackendSettings settings = backend_settings();
  const ConvPlanKey key = make_conv_plan_key(dir, geo, dtype, device, settings, layout);
  std::lock_guard<std::mutex> lock(state_mutex());
  cudnnHandle_t h = ::ember::cuda::cudnn_handle(device);
  const char* call = dir == ConvDirection::Forward     ? "cudnnConvolutionForward"
                     : dir == ConvDirection::InputGrad ? "cudnnConvolutionBackwardData"
                                                       : "cudnnConvolutionBackwardFilter";
  const auto it = plan_cache().find(key);
  if (it == plan_cache().end()) {
    const bool ran =
        plan_and_run(key, h, dir, geo, pad, dtype, layout, device, settings, x, w, y, last_resort);
    if (ran) EMBER_CUDA_CHECK_LAUNCH(call);
    return ran;
  }
  const PlanEntry& entry = *it->second;
  if (entry.unusable) {
    EMBER_CHECK(!last_resort, "conv2d (cuDNN): no algorithm runs [",
                conv_plan_key(dir, geo, dtype, device, settings, layout),
                "] (found when the problem was first seen)");
    return false;
  }
  const ConvPlan& plan = entry.plan;
  void* ws = workspace(device, plan.workspace);
  const cudnnStatus_t status = run_algorithm(h, entry.desc, dir, layout, plan.algo, dtype, ws,
                                             plan.workspace, x, w, y);
  if (status != CUDNN_STATUS_SUCCESS) ::ember::cuda::throw_cudnn_error(status, call, __FILE__, __LINE__);
  // In EMBER_CUDA_SYNC mode, a fault inside cuDNN's kernels is reported here, naming the call.
  EMBER_CUDA_CHECK_LAUNCH(call);
  return true;
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

void set_cudnn_run_failure(CudnnRunFailure failure) {
  std::lock_guard<std::mutex> lock(state_mutex());
  injected_failure() = std::move(failure);
}

}  // namespace ember::kernels::cuda

#pragma GCC diagnostic pop
