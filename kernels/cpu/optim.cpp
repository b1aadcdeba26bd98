// CPU reference for the fused optimizer updates (contract: kernels/optim.h): a parallel loop
// over the elements applying the shared per-element formula of kernels/optim_step.h. Elements
// are independent, so the thread count does not change the result. The multi-tensor forms cut
// every tensor of the list into chunks of kListChunk elements and run the chunks in parallel,
// each through the per-tensor loop's code; sums of squares run one tensor per work item, in
// element order, like kernels/cpu/reduce.cpp's sum().
// Tested in tests/test_optim.cpp (suites SgdKernel, AdamKernel) and tests/test_optim_multi.cpp.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/optim.h"
#include "kernels/optim_step.h"

namespace ember::kernels::cpu {

namespace {
constexpr int64_t kParallelWork = 32768;  // elements below which threads cost more than they save

// Adam over elements [0, n) of float32 buffers, the same per-element formula as every other
// path, compiled for x86-64-v3 (AVX2 + FMA: 4 doubles per instruction) and the baseline; the
// loader picks the clone the CPU runs (GCC's target_clones).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void adam_f32(float* __restrict p, const float* __restrict g, float* __restrict m,
              float* __restrict v, const optim_step::AdamCoefficients k, int64_t n) {
  for (int64_t i = 0; i < n; ++i) optim_step::adam(p[i], g[i], m[i], v[i], k);
}

// One work item of a multi-tensor call: elements [begin, end) of tensor `tensor`.
struct Chunk {
  size_t tensor;
  int64_t begin, end;
};

std::vector<Chunk> chunks_of(const TensorList& list, int64_t* total) {
  std::vector<Chunk> chunks;
  *total = 0;
  for (size_t t = 0; t < list.size(); ++t) {
    const int64_t n = list[t].numel();
    *total += n;
    for (int64_t b = 0; b < n; b += kListChunk) chunks.push_back({t, b, std::min(n, b + kListChunk)});
  }
  return chunks;
}

// Runs body(chunk) for every chunk of `list`, in parallel when there is enough work.
template <typename Body>
void for_each_chunk(const TensorList& list, Body body) {
  int64_t total = 0;
  const std::vector<Chunk> chunks = chunks_of(list, &total);
  const int64_t count = static_cast<int64_t>(chunks.size());
#pragma omp parallel for schedule(dynamic) if (total > kParallelWork)
  for (int64_t c = 0; c < count; ++c) body(chunks[c]);
}

template <typename T>
T* data_of(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}
}  // namespace

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step) {
  const optim_step::SgdCoefficients k{lr, momentum, dampening, weight_decay, nesterov, first_step};
  dispatch_float(param.dtype(), "sgd_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = param.numel();
    T* p = static_cast<T*>(param.raw_data());       // [n]
    const T* g = static_cast<const T*>(grad.raw_data());  // [n]
    T* b = momentum != 0.0 ? static_cast<T*>(momentum_buffer.raw_data()) : nullptr;  // [n]
#pragma omp parallel for if (n > kParallelWork)
    for (int64_t i = 0; i < n; ++i) optim_step::sgd(p[i], g[i], b ? b + i : nullptr, k);
  });
}

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, int64_t step) {
  const optim_step::AdamCoefficients k =
      optim_step::adam_coefficients(lr, beta1, beta2, eps, weight_decay, decoupled, step);
  dispatch_float(param.dtype(), "adam_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = param.numel();
    T* p = static_cast<T*>(param.raw_data());             // [n]
    const T* g = static_cast<const T*>(grad.raw_data());  // [n]
    T* m = static_cast<T*>(exp_avg.raw_data());           // [n]
    T* v = static_cast<T*>(exp_avg_sq.raw_data());        // [n]
    if constexpr (std::is_same_v<T, float>) {
      // One contiguous block per thread, each through the cloned loop.
#pragma omp parallel if (n > kParallelWork)
      {
        const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t block = (n + threads - 1) / threads;
        const int64_t begin = std::min(n, t * block), end = std::min(n, begin + block);
        if (begin < end) adam_f32(p + begin, g + begin, m + begin, v + begin, k, end - begin);
      }
      return;
    }
#pragma omp parallel for if (n > kParallelWork)
    for (int64_t i = 0; i < n; ++i) optim_step::adam(p[i], g[i], m[i], v[i], k);
  });
}

void sgd_step_multi(const TensorList& params, const TensorList& grads,
                    const TensorList& momentum_buffers, const std::vector<uint8_t>& first_step,
                    const Tensor& scalars, double momentum, double dampening, double weight_decay,
                    bool nesterov) {
  const double lr = data_of<const double>(scalars)[0];
  dispatch_float(params[0].dtype(), "sgd_step_multi", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_chunk(params, [&](const Chunk& c) {
      const optim_step::SgdCoefficients k{lr,       momentum, dampening, weight_decay,
                                          nesterov, first_step[c.tensor] != 0};
      T* p = data_of<T>(params[c.tensor]);             // [numel]
      const T* g = data_of<const T>(grads[c.tensor]);  // [numel]
      T* b = momentum != 0.0 ? data_of<T>(momentum_buffers[c.tensor]) : nullptr;  // [numel]
      for (int64_t i = c.begin; i < c.end; ++i) optim_step::sgd(p[i], g[i], b ? b + i : nullptr, k);
    });
  });
}

void adam_step_multi(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                     const TensorList& exp_avg_sqs, const Tensor& scalars,
                     const std::vector<int64_t>& step_slots, double beta1, double beta2,
                     double eps, double weight_decay, bool decoupled) {
  double* s = data_of<double>(scalars);  // [lr, step counts...]
  std::vector<optim_step::AdamCoefficients> k(params.size());
  for (size_t t = 0; t < params.size(); ++t) {
    s[step_slots[t]] += 1.0;  // counts this update, as the per-tensor caller's ++step did
    k[t] = optim_step::adam_coefficients(s[0], beta1, beta2, eps, weight_decay, decoupled,
                                         s[step_slots[t]]);
  }
  dispatch_float(params[0].dtype(), "adam_step_multi", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_chunk(params, [&](const Chunk& c) {
      const size_t t = c.tensor;
      T* p = data_of<T>(params[t]) + c.begin;               // [end - begin]
      const T* g = data_of<const T>(grads[t]) + c.begin;    // [end - begin]
      T* m = data_of<T>(exp_avgs[t]) + c.begin;             // [end - begin]
      T* v = data_of<T>(exp_avg_sqs[t]) + c.begin;          // [end - begin]
      const int64_t n = c.end - c.begin;
      if constexpr (std::is_same_v<T, float>) {
        adam_f32(p, g, m, v, k[t], n);  // the per-tensor path's loop, so its very code
      } else {
        for (int64_t i = 0; i < n; ++i) optim_step::adam(p[i], g[i], m[i], v[i], k[t]);
      }
    });
  });
}

void ema_update_multi(const TensorList& shadows, const TensorList& params, const Tensor& scalars,
                      int64_t count_slot, double decay, bool warmup, bool count_update) {
  double* s = data_of<double>(scalars);
  const double d = optim_step::ema_decay(decay, warmup, s[count_slot]);
  dispatch_float(params[0].dtype(), "ema_update_multi", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T d_t = static_cast<T>(d), one_minus_d_t = static_cast<T>(1.0 - d);
    for_each_chunk(params, [&](const Chunk& c) {
      T* sh = data_of<T>(shadows[c.tensor]);            // [numel]
      const T* p = data_of<const T>(params[c.tensor]);  // [numel]
      for (int64_t i = c.begin; i < c.end; ++i) optim_step::ema(sh[i], p[i], d_t, one_minus_d_t);
    });
  });
  if (count_update) s[count_slot] += 1.0;
}

void sum_squares_multi(const TensorList& grads, const Tensor& sums,
                       const std::vector<int64_t>& positions) {
  double* out = data_of<double>(sums);
  int64_t total = 0;
  for (const Tensor& g : grads) total += g.numel();
  const int64_t count = static_cast<int64_t>(grads.size());
  dispatch_float(grads[0].dtype(), "sum_squares_multi", [&](auto tag) {
    using T = typename decltype(tag)::type;
    // One tensor per work item, summed in element order: sum(g * g) of kernels/cpu/reduce.cpp.
#pragma omp parallel for schedule(dynamic) if (total > kParallelWork)
    for (int64_t t = 0; t < count; ++t) {
      const T* g = data_of<const T>(grads[t]);  // [numel]
      const int64_t n = grads[t].numel();
      double acc = 0;
      for (int64_t i = 0; i < n; ++i) {
        const T square = g[i] * g[i];
        acc += square;
      }
      out[positions[t]] = static_cast<double>(static_cast<T>(acc));
    }
  });
}

void clip_coefficient(const Tensor& sums, const Tensor& result, double max_norm,
                      bool keep_if_nonfinite) {
  const double* s = data_of<const double>(sums);  // [n]
  double total = 0;
  for (int64_t i = 0; i < sums.numel(); ++i) total += s[i];
  const double norm = std::sqrt(total);
  double* r = data_of<double>(result);
  r[0] = norm;
  r[1] = keep_if_nonfinite && !std::isfinite(norm) ? 1.0
                                                   : optim_step::clip_coefficient(norm, max_norm);
}

void scale_by_clip_coefficient_multi(const TensorList& grads, const Tensor& result) {
  const double coef = data_of<const double>(result)[1];
  if (coef == 1.0) return;
  dispatch_float(grads[0].dtype(), "scale_by_clip_coefficient_multi", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T c_t = static_cast<T>(coef);
    for_each_chunk(grads, [&](const Chunk& c) {
      T* g = data_of<T>(grads[c.tensor]);  // [numel]
      for (int64_t i = c.begin; i < c.end; ++i) g[i] = g[i] * c_t;
    });
  });
}

}  // namespace ember::kernels::cpu
