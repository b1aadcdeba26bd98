// CUDA fused optimizer updates (contract: kernels/optim.h), applying the per-element formula of
// kernels/optim_step.h, the very code the CPU reference (kernels/cpu/optim.cpp) runs. Results
// match the CPU to rounding: nvcc may contract a * b + c into an fma where the host compiler
// does not, and CUDA's pow (Adam's bias corrections) may differ from glibc's by an ulp.
// - per tensor: one grid-stride kernel per parameter; Adam's coefficients are computed in the
//   kernel from the step argument, as the multi-tensor kernel computes them from device memory,
//   so the two CUDA paths agree bit for bit.
// - multi-tensor ("multi tensor apply"): the host packs the list into ListArgs blocks, each
//   holding up to kListTensors tensors' pointers and sizes and a table of up to kListBlocks
//   (tensor, chunk) pairs, passed by value as the kernel argument (under CUDA's 4 KiB limit);
//   block b of a launch handles chunk block_chunk[b] (kListChunk elements) of tensor
//   block_tensor[b]. One launch covers the list unless it does not fit one ListArgs.
//   Learning rate and step counts are read from a device float64 tensor; counts are incremented
//   by a tiny kernel queued before (Adam) or after (EMA) the update, never inside it, since the
//   blocks of one launch would race on the count.
// - sums of squares (clip_grad_norm): one double partial per chunk (block reduction in a fixed
//   order, kernels/cuda/block_reduce.cuh), then one thread per tensor adds its chunks' partials
//   in chunk order: deterministic, no atomics.
// Tested in tests/test_cuda_optim.cpp and tools/emulate_cuda/check_misc.cpp.
#include <array>
#include <cstdint>
#include <vector>

#include "kernels/optim.h"
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/optim_step.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {

constexpr int kThreads = 256;

// p, g, b [n] contiguous; b is null when momentum == 0.
template <typename T>
__global__ void sgd_kernel(T* p, const T* g, T* b, int64_t n, optim_step::SgdCoefficients k) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    optim_step::sgd(p[i], g[i], b ? b + i : nullptr, k);
}

struct AdamHyper {
  double beta1, beta2, eps, weight_decay;
  bool decoupled;
};

__device__ inline optim_step::AdamCoefficients adam_coefficients(double lr, const AdamHyper& h,
                                                                 double step) {
  return optim_step::adam_coefficients(lr, h.beta1, h.beta2, h.eps, h.weight_decay, h.decoupled,
                                       step);
}

// p, g, m, v [n] contiguous.
template <typename T>
__global__ void adam_kernel(T* p, const T* g, T* m, T* v, int64_t n, double lr, AdamHyper h,
                            double step) {
  const optim_step::AdamCoefficients k = adam_coefficients(lr, h, step);
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    optim_step::adam(p[i], g[i], m[i], v[i], k);
}

// ---- multi-tensor ----

// One launch's share of a list: kLists parallel lists (e.g. param, grad, exp_avg, exp_avg_sq).
template <int kLists>
struct ListArgs {
  void* ptr[kLists][kListTensors];      // ptr[l][t]: tensor t of list l (null for an absent list)
  int64_t numel[kListTensors];
  int64_t aux[kListTensors];            // per tensor: a step slot, a first-step flag, or unused
  unsigned char block_tensor[kListBlocks];
  int block_chunk[kListBlocks];
};
static_assert(sizeof(ListArgs<4>) + 128 <= 4096, "kernel arguments are limited to 4 KiB");
static_assert(kListTensors <= 256, "block_tensor is a byte");

// Elements [begin, end) of the block's chunk.
struct ChunkRange {
  int t;
  int64_t begin, end;
};

template <int kLists>
__device__ inline ChunkRange chunk_of_block(const ListArgs<kLists>& a) {
  const int t = a.block_tensor[blockIdx.x];
  const int64_t begin = static_cast<int64_t>(a.block_chunk[blockIdx.x]) * kListChunk;
  const int64_t end = a.numel[t] < begin + kListChunk ? a.numel[t] : begin + kListChunk;
  return {t, begin, end};
}

// Calls launch(args, blocks, first_block) for each ListArgs the lists need; lists[0] sets the
// tensors and their sizes, empty tensors are skipped. first_block counts the blocks of earlier
// launches (the index of this launch's first chunk in the whole list).
template <int kLists, typename Launch>
void for_each_launch(const std::array<const TensorList*, kLists>& lists,
                     const std::vector<int64_t>& aux, Launch launch) {
  ListArgs<kLists> a{};
  int tensors = 0, blocks = 0, slot = -1;
  int64_t launched = 0;
  auto flush = [&] {
    if (blocks > 0) launch(a, blocks, launched);
    launched += blocks;
    tensors = blocks = 0;
    slot = -1;
  };
  const TensorList& first = *lists[0];
  for (size_t t = 0; t < first.size(); ++t) {
    const int64_t n = first[t].numel();
    if (n == 0) continue;
    slot = -1;
    for (int64_t begin = 0, c = 0; begin < n; begin += kListChunk, ++c) {
      if (blocks == kListBlocks || (slot < 0 && tensors == kListTensors)) flush();
      if (slot < 0) {  // the tensor's first chunk in this launch
        slot = tensors++;
        for (int l = 0; l < kLists; ++l)
          a.ptr[l][slot] = lists[l]->size() > t ? (*lists[l])[t].raw_data() : nullptr;
        a.numel[slot] = n;
        a.aux[slot] = aux.empty() ? 0 : aux[t];
      }
      a.block_tensor[blocks] = static_cast<unsigned char>(slot);
      a.block_chunk[blocks] = static_cast<int>(c);
      ++blocks;
    }
  }
  flush();
}

// Up to kSlotsPerLaunch slots of a scalars tensor to increment, one thread each.
constexpr int kSlotsPerLaunch = 256;
struct SlotArgs {
  int64_t slot[kSlotsPerLaunch];
  int count;
};

// scalars[s.slot[i]] += 1 for i < s.count (distinct slots: no two threads share one).
__global__ void increment_slots_kernel(double* scalars, SlotArgs s) {
  const int i = threadIdx.x;
  if (i < s.count) scalars[s.slot[i]] += 1.0;
}

void increment_slots(const Tensor& scalars, const std::vector<int64_t>& slots) {
  double* d = static_cast<double*>(scalars.raw_data());
  for (size_t begin = 0; begin < slots.size(); begin += kSlotsPerLaunch) {
    SlotArgs s{};
    s.count = static_cast<int>(std::min<size_t>(kSlotsPerLaunch, slots.size() - begin));
    for (int i = 0; i < s.count; ++i) s.slot[i] = slots[begin + i];
    increment_slots_kernel<<<1, kSlotsPerLaunch, 0, ::ember::cuda::compute_stream()>>>(d, s);
    EMBER_CUDA_CHECK_LAUNCH("increment_slots_kernel");
  }
}

// aux[t]: 1 on tensor t's first step (its momentum buffer's contents are ignored).
template <typename T>
__global__ void sgd_multi_kernel(ListArgs<3> a, const double* scalars, double momentum,
                                 double dampening, double weight_decay, bool nesterov) {
  const ChunkRange r = chunk_of_block(a);
  const optim_step::SgdCoefficients k{scalars[0], momentum, dampening, weight_decay, nesterov,
                                      a.aux[r.t] != 0};
  T* p = static_cast<T*>(a.ptr[0][r.t]);
  const T* g = static_cast<const T*>(a.ptr[1][r.t]);
  T* b = static_cast<T*>(a.ptr[2][r.t]);  // null when momentum == 0
  for (int64_t i = r.begin + threadIdx.x; i < r.end; i += blockDim.x)
    optim_step::sgd(p[i], g[i], b ? b + i : nullptr, k);
}

// aux[t]: the slot of tensor t's step count in scalars (already incremented for this update).
template <typename T>
__global__ void adam_multi_kernel(ListArgs<4> a, const double* scalars, AdamHyper h) {
  const ChunkRange r = chunk_of_block(a);
  const optim_step::AdamCoefficients k = adam_coefficients(scalars[0], h, scalars[a.aux[r.t]]);
  T* p = static_cast<T*>(a.ptr[0][r.t]);
  const T* g = static_cast<const T*>(a.ptr[1][r.t]);
  T* m = static_cast<T*>(a.ptr[2][r.t]);
  T* v = static_cast<T*>(a.ptr[3][r.t]);
  for (int64_t i = r.begin + threadIdx.x; i < r.end; i += blockDim.x)
    optim_step::adam(p[i], g[i], m[i], v[i], k);
}

// Lists: shadows, params. The decay comes from the update count scalars[count_slot].
template <typename T>
__global__ void ema_multi_kernel(ListArgs<2> a, const double* scalars, int64_t count_slot,
                                 double decay, bool warmup) {
  const ChunkRange r = chunk_of_block(a);
  const double d = optim_step::ema_decay(decay, warmup, scalars[count_slot]);
  const T d_t = static_cast<T>(d), one_minus_d_t = static_cast<T>(1.0 - d);
  T* s = static_cast<T*>(a.ptr[0][r.t]);
  const T* p = static_cast<const T*>(a.ptr[1][r.t]);
  for (int64_t i = r.begin + threadIdx.x; i < r.end; i += blockDim.x)
    optim_step::ema(s[i], p[i], d_t, one_minus_d_t);
}

// partials[b] = the double sum of T(g * g) over the block's chunk (fixed-order block reduction).
template <typename T>
__global__ void sum_squares_partial_kernel(ListArgs<1> a, double* partials) {
  __shared__ double shared[32];
  const ChunkRange r = chunk_of_block(a);
  const T* g = static_cast<const T*>(a.ptr[0][r.t]);
  double acc = 0;
  for (int64_t i = r.begin + threadIdx.x; i < r.end; i += blockDim.x) {
    const T square = g[i] * g[i];
    acc += static_cast<double>(square);
  }
  acc = block_all_reduce(acc, PlusDouble{}, 0.0, shared);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// One thread per tensor: sums[position] = double(T(partials[first] + ... in chunk order)).
constexpr int kCombinePerLaunch = 128;
struct CombineArgs {
  int64_t first[kCombinePerLaunch], count[kCombinePerLaunch], position[kCombinePerLaunch];
  int tensors;
};

template <typename T>
__global__ void sum_squares_combine_kernel(const double* partials, double* sums, CombineArgs c) {
  const int t = threadIdx.x;
  if (t >= c.tensors) return;
  double acc = 0;
  for (int64_t i = 0; i < c.count[t]; ++i) acc += partials[c.first[t] + i];
  sums[c.position[t]] = static_cast<double>(static_cast<T>(acc));
}

// One thread: result = [norm, coefficient] from the per-tensor sums in order.
__global__ void clip_coefficient_kernel(const double* sums, int64_t n, double* result,
                                        double max_norm, bool keep_if_nonfinite) {
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += sums[i];
  const double norm = sqrt(total);
  const bool finite = norm - norm == 0.0;  // false for inf and NaN
  result[0] = norm;
  result[1] = keep_if_nonfinite && !finite ? 1.0 : optim_step::clip_coefficient(norm, max_norm);
}

// g *= T(result[1]) unless it is 1 (the coefficient is read here, never by the host).
template <typename T>
__global__ void scale_multi_kernel(ListArgs<1> a, const double* result) {
  const double coef = result[1];
  if (coef == 1.0) return;
  const ChunkRange r = chunk_of_block(a);
  const T c = static_cast<T>(coef);
  T* g = static_cast<T*>(a.ptr[0][r.t]);
  for (int64_t i = r.begin + threadIdx.x; i < r.end; i += blockDim.x) g[i] = g[i] * c;
}

}  // namespace

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step) {
  const optim_step::SgdCoefficients k{lr, momentum, dampening, weight_decay, nesterov, first_step};
  const int64_t n = param.numel();
  if (n == 0) return;
  dispatch_float(param.dtype(), "sgd_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* b = momentum != 0.0 ? static_cast<T*>(momentum_buffer.raw_data()) : nullptr;
    sgd_kernel<T><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                    ::ember::cuda::compute_stream()>>>(static_cast<T*>(param.raw_data()),
                                                       static_cast<const T*>(grad.raw_data()), b,
                                                       n, k);
    EMBER_CUDA_CHECK_LAUNCH("sgd_kernel");
  });
}

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, int64_t step) {
  const AdamHyper h{beta1, beta2, eps, weight_decay, decoupled};
  const int64_t n = param.numel();
  if (n == 0) return;
  dispatch_float(param.dtype(), "adam_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    adam_kernel<T><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                     ::ember::cuda::compute_stream()>>>(
        static_cast<T*>(param.raw_data()), static_cast<const T*>(grad.raw_data()),
        static_cast<T*>(exp_avg.raw_data()), static_cast<T*>(exp_avg_sq.raw_data()), n, lr, h,
        static_cast<double>(step));
    EMBER_CUDA_CHECK_LAUNCH("adam_kernel");
  });
}

void sgd_step_multi(const TensorList& params, const TensorList& grads,
                    const TensorList& momentum_buffers, const std::vector<uint8_t>& first_step,
                    const Tensor& scalars, double momentum, double dampening, double weight_decay,
                    bool nesterov) {
  const std::vector<int64_t> aux(first_step.begin(), first_step.end());
  const TensorList none;
  const TensorList* buffers = momentum != 0.0 ? &momentum_buffers : &none;
  const double* s = static_cast<const double*>(scalars.raw_data());
  dispatch_float(params[0].dtype(), "sgd_step_multi", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_launch<3>({&params, &grads, buffers}, aux,
                       [&](const ListArgs<3>& a, int blocks, int64_t) {
                         sgd_multi_kernel<T><<<blocks, kThreads, 0,
                                               ::ember::cuda::compute_stream()>>>(
                             a, s, momentum, dampening, weight_decay, nesterov);
                         EMBER_CUDA_CHECK_LAUNCH("sgd_multi_kernel");
                       });
  });
}

void adam_step_multi(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                     const TensorList& exp_avg_sqs, const Tensor& scalars,
                     const std::vector<int64_t>& step_slots, double beta1, double beta2,
                     double eps, double weight_decay, bool decoupled) {
  // Counts first (stream order puts the increments before every update block reads them).
  increment_slots(scalars, step_slots);
  const AdamHyper h{beta1, beta2, eps, weight_decay, decoupled};
  const double* s = static_cast<const double*>(scalars.raw_data());
  dispatch_float(params[0].dtype(), "adam_step_multi", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_launch<4>({&params, &grads, &exp_avgs, &exp_avg_sqs}, step_slots,
                       [&](const ListArgs<4>& a, int blocks, int64_t) {
                         adam_multi_kernel<T><<<blocks, kThreads, 0,
                                                ::ember::cuda::compute_stream()>>>(a, s, h);
                         EMBER_CUDA_CHECK_LAUNCH("adam_multi_kernel");
                       });
  });
}

void ema_update_multi(const TensorList& shadows, const TensorList& params, const Tensor& scalars,
                      int64_t count_slot, double decay, bool warmup, bool count_update) {
  const double* s = static_cast<const double*>(scalars.raw_data());
  dispatch_float(params[0].dtype(), "ema_update_multi", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_launch<2>({&shadows, &params}, {},
                       [&](const ListArgs<2>& a, int blocks, int64_t) {
                         ema_multi_kernel<T><<<blocks, kThreads, 0,
                                               ::ember::cuda::compute_stream()>>>(
                             a, s, count_slot, decay, warmup);
                         EMBER_CUDA_CHECK_LAUNCH("ema_multi_kernel");
                       });
  });
  // After the update: every block above has read the count before it changes.
  if (count_update) increment_slots(scalars, {count_slot});
}

void sum_squares_multi(const TensorList& grads, const Tensor& sums,
                       const std::vector<int64_t>& positions) {
  int64_t chunks = 0;
  for (const Tensor& g : grads) chunks += (g.numel() + kListChunk - 1) / kListChunk;
  // One double per chunk, from the caching allocator (no synchronisation, graph-safe reuse).
  const Tensor partials = empty({chunks > 0 ? chunks : 1},
                                {.dtype = DType::Float64, .device = grads[0].device()});
  double* part = static_cast<double*>(partials.raw_data());
  double* out = static_cast<double*>(sums.raw_data());
  dispatch_float(grads[0].dtype(), "sum_squares_multi", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_launch<1>({&grads}, {}, [&](const ListArgs<1>& a, int blocks, int64_t first) {
      sum_squares_partial_kernel<T><<<blocks, kThreads, 0, ::ember::cuda::compute_stream()>>>(
          a, part + first);
      EMBER_CUDA_CHECK_LAUNCH("sum_squares_partial_kernel");
    });
    // Chunks were laid out tensor after tensor, empty tensors having none (their sum is 0).
    CombineArgs c{};
    int64_t first = 0;
    auto flush = [&] {
      if (c.tensors == 0) return;
      sum_squares_combine_kernel<T><<<1, kCombinePerLaunch, 0, ::ember::cuda::compute_stream()>>>(
          part, out, c);
      EMBER_CUDA_CHECK_LAUNCH("sum_squares_combine_kernel");
      c.tensors = 0;
    };
    for (size_t t = 0; t < grads.size(); ++t) {
      if (c.tensors == kCombinePerLaunch) flush();
      const int64_t count = (grads[t].numel() + kListChunk - 1) / kListChunk;
      c.first[c.tensors] = first;
      c.count[c.tensors] = count;
      c.position[c.tensors] = positions[t];
      ++c.tensors;
      first += count;
    }
    flush();
  });
}

void clip_coefficient(const Tensor& sums, const Tensor& result, double max_norm,
                      bool keep_if_nonfinite) {
  clip_coefficient_kernel<<<1, 1, 0, ::ember::cuda::compute_stream()>>>(
      static_cast<const double*>(sums.raw_data()), sums.numel(),
      static_cast<double*>(result.raw_data()), max_norm, keep_if_nonfinite);
  EMBER_CUDA_CHECK_LAUNCH("clip_coefficient_kernel");
}

void scale_by_clip_coefficient_multi(const TensorList& grads, const Tensor& result) {
  const double* r = static_cast<const double*>(result.raw_data());
  dispatch_float(grads[0].dtype(), "scale_by_clip_coefficient_multi", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_launch<1>({&grads}, {}, [&](const ListArgs<1>& a, int blocks, int64_t) {
      scale_multi_kernel<T><<<blocks, kThreads, 0, ::ember::cuda::compute_stream()>>>(a, r);
      EMBER_CUDA_CHECK_LAUNCH("scale_multi_kernel");
    });
  });
}

}  // namespace ember::kernels::cuda
