// CUDA batch norm and layer norm (contract: kernels/norm.h; reference: kernels/cpu/norm.cpp).
// Same formulas as the CPU, every statistic accumulated in double. Per-column sums over rows
// (batch norm's per-channel statistics and gradients, layer norm's dweight/dbias) use a
// deterministic two-pass scheme: pass 1 gives each (column tile, chunk of rows) block one
// partial sum per column, pass 2 adds the chunks' partials in a fixed order. The chunking depends
// only on the row count, so results are bit-identical from run to run (not bit-identical to the
// CPU, whose blocks of rows differ: both are double sums of the same terms). The fused batch
// norm + activation (batch_norm_act_*) takes its statistics in one pass over x (shifted sums per
// chunk, merged in chunk order; kernels/norm_math.h holds the arithmetic shared with the CPU)
// and updates the running statistics in the same kernel that finishes them. Design notes:
// docs/cuda_kernels.md ("Normalisation, indexing, resampling, optimizer updates").
// Tested against the CPU through ops in tests/test_cuda_norm.cpp (skipped without a GPU).
#include <cstdint>

#include "kernels/norm.h"
#include "kernels/norm_math.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {

using ::ember::cuda::compute_stream;
using pointwise::CudaMath;

constexpr int kThreads = 256;
// Column reductions: a block is kTileCols adjacent columns (threadIdx.x, so a warp reads one
// contiguous run of a row) times kTileRows rows walked in parallel (threadIdx.y).
constexpr int kTileCols = 32;
constexpr int kTileRows = 8;
// Rows per chunk: at least kMinChunkRows, and few enough chunks that the [chunks, K, cols]
// partials stay small (1024 chunks keep an H100 busy even at C = 16).
constexpr int64_t kMinChunkRows = 64;
constexpr int64_t kMaxChunks = 1024;

// Element i of an optional [C] parameter of any stride (a contiguous tensor of any rank is read
// with stride 1), or `fallback` when undefined. Mirrors Param in kernels/cpu/norm.cpp.
template <typename T>
struct Param {
  const T* data;
  int64_t stride;
  double fallback;
  __device__ double operator[](int64_t i) const {
    return data ? static_cast<double>(data[i * stride]) : fallback;
  }
};

template <typename T>
Param<T> param_of(const Tensor& t, double fallback) {
  if (!t.defined()) return {nullptr, 1, fallback};
  return {static_cast<const T*>(t.raw_data()), t.dim() == 1 ? t.strides()[0] : 1, fallback};
}

template <typename T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr;
}

Tensor workspace(int64_t n, Device device) { return empty({n}, {DType::Float64, device}); }

unsigned blocks_for(int64_t n, int64_t per_block) {
  return static_cast<unsigned>((n + per_block - 1) / per_block);
}

// ---- Two-pass column sums ---------------------------------------------------------------------

struct Chunking {
  int64_t rows_per_chunk;
  int64_t chunks;
};

// A function of the row count alone (never of the device), so the summation order is fixed.
Chunking chunking_for(int64_t rows) {
  int64_t per = (rows + kMaxChunks - 1) / kMaxChunks;
  if (per < kMinChunkRows) per = kMinChunkRows;
  per = (per + kTileRows - 1) / kTileRows * kTileRows;
  return {per, (rows + per - 1) / per};
}

// Pass 1. partial [chunks, K, cols]: partial[q, k, c] = sum over rows r of chunk q of the k-th
// value load(r, c) adds. Thread (x, y) sums rows y, y + 8, ... of its chunk for column x; the
// 8 row-partials are then added in y order through shared memory (fixed order).
template <int K, typename Load>
__global__ void __launch_bounds__(kTileCols* kTileRows)
    column_partials_kernel(int64_t rows, int64_t cols, int64_t chunk_rows, Load load,
                           double* partial) {
  __shared__ double shared[K][kTileRows][kTileCols];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kTileCols + tx;
  const int64_t chunk = blockIdx.y;
  const int64_t begin = chunk * chunk_rows;
  const int64_t end = begin + chunk_rows < rows ? begin + chunk_rows : rows;
  double acc[K];
  for (int k = 0; k < K; ++k) acc[k] = 0.0;
  if (c < cols)
    for (int64_t r = begin + ty; r < end; r += kTileRows) load(r, c, acc);
  for (int k = 0; k < K; ++k) shared[k][ty][tx] = acc[k];
  __syncthreads();
  if (ty == 0 && c < cols) {
    for (int k = 0; k < K; ++k) {
      double total = shared[k][0][tx];
      for (int j = 1; j < kTileRows; ++j) total += shared[k][j][tx];
      partial[(chunk * K + k) * cols + c] = total;
    }
  }
}

// Pass 2: adds the chunks' partials per column (thread (x, y) takes chunks y, y + 8, ..., then
// the 8 sums are added in y order) and hands the K totals of column c to epilogue(c, totals).
template <int K, typename Epilogue>
__global__ void __launch_bounds__(kTileCols* kTileRows)
    column_finish_kernel(const double* partial, int64_t chunks, int64_t cols, Epilogue epilogue) {
  __shared__ double shared[K][kTileRows][kTileCols];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kTileCols + tx;
  double acc[K];
  for (int k = 0; k < K; ++k) acc[k] = 0.0;
  if (c < cols)
    for (int64_t q = ty; q < chunks; q += kTileRows)
      for (int k = 0; k < K; ++k) acc[k] += partial[(q * K + k) * cols + c];
  for (int k = 0; k < K; ++k) shared[k][ty][tx] = acc[k];
  __syncthreads();
  if (ty == 0 && c < cols) {
    double total[K];
    for (int k = 0; k < K; ++k) {
      total[k] = shared[k][0][tx];
      for (int j = 1; j < kTileRows; ++j) total[k] += shared[k][j][tx];
    }
    epilogue(c, total);
  }
}

// Runs both passes over a [rows, cols] walk. rows may be 0 (the totals are then 0).
template <int K, typename Load, typename Epilogue>
void column_sums(int64_t rows, int64_t cols, const Load& load, const Epilogue& epilogue,
                 Device device) {
  if (cols == 0) return;
  const Chunking chunking = chunking_for(rows);
  const unsigned col_tiles = blocks_for(cols, kTileCols);
  const dim3 block(kTileCols, kTileRows);
  // chunks <= kMaxChunks, well inside grid.y's 65535.
  Tensor partial = workspace((chunking.chunks > 0 ? chunking.chunks : 1) * K * cols, device);
  double* pp = static_cast<double*>(partial.raw_data());
  if (chunking.chunks > 0) {
    column_partials_kernel<K><<<dim3(col_tiles, static_cast<unsigned>(chunking.chunks)), block, 0,
                                compute_stream()>>>(rows, cols, chunking.rows_per_chunk, load, pp);
    EMBER_CUDA_CHECK_LAUNCH("column_partials_kernel");
  }
  column_finish_kernel<K><<<col_tiles, block, 0, compute_stream()>>>(pp, chunking.chunks, cols,
                                                                     epilogue);
  EMBER_CUDA_CHECK_LAUNCH("column_finish_kernel");
  // `partial` goes back to the allocator here, before the kernels ran: safe, because a plain
  // cudaFree waits for the device and a stream-ordered cache reuses the block only for work
  // queued after these kernels on the same stream.
}

// ---- Batch norm -------------------------------------------------------------------------------

// x [M, C]: acc[0] += x.
template <typename T>
struct SumLoad {
  const T* x;
  int64_t C;
  __device__ void operator()(int64_t r, int64_t c, double* acc) const {
    acc[0] += static_cast<double>(x[r * C + c]);
  }
};

// mu[c] = total / count.
struct MeanEpilogue {
  double* mu;
  double count;
  __device__ void operator()(int64_t c, const double* total) const { mu[c] = total[0] / count; }
};

// x [M, C]: acc[0] += (x - mu[c])^2.
template <typename T>
struct CentredSquareLoad {
  const T* x;
  const double* mu;
  int64_t C;
  __device__ void operator()(int64_t r, int64_t c, double* acc) const {
    const double d = static_cast<double>(x[r * C + c]) - mu[c];
    acc[0] += d * d;
  }
};

// The batch statistics of channel c, and the affine map y = (x - mu) * scale + shift.
template <typename T>
struct StatsEpilogue {
  T* mean;  // [C], may be null; likewise var and invstd
  T* var;
  T* invstd;
  double* affine;  // [3, C]: mu, scale, shift
  Param<T> weight, bias;
  int64_t C;
  double count, eps;
  __device__ void operator()(int64_t c, const double* total) const {
    const double mu = affine[c];
    const double sigma2 = total[0] / count;
    const double inv = 1.0 / sqrt(sigma2 + eps);
    if (mean) mean[c] = static_cast<T>(mu);
    if (var) var[c] = static_cast<T>(sigma2);
    if (invstd) invstd[c] = static_cast<T>(inv);
    affine[C + c] = inv * weight[c];
    affine[2 * C + c] = bias[c];
  }
};

// Inference: the affine map from the running statistics.
template <typename T>
__global__ void inference_affine_kernel(double* affine /*[3, C]*/, Param<T> weight, Param<T> bias,
                                        Param<T> running_mean, Param<T> running_var, int64_t C,
                                        double eps) {
  for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < C;
       c += (int64_t)gridDim.x * blockDim.x) {
    affine[c] = running_mean[c];
    affine[C + c] = weight[c] / sqrt(running_var[c] + eps);
    affine[2 * C + c] = bias[c];
  }
}

// y [M, C] = act((x - mu[c]) * scale[c] + shift[c]), the affine map in double rounded once to T
// (the unfused forward's bits), the activation in T.
template <typename T, bool kSwish>
__global__ void affine_kernel(T* y, const T* x, const double* affine /*[3, C]*/, int64_t n,
                              int64_t C) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = i % C;
    const T z = static_cast<T>((static_cast<double>(x[i]) - affine[c]) * affine[C + c] +
                               affine[2 * C + c]);
    y[i] = norm_math::activation<CudaMath, kSwish>(z);
  }
}

template <typename T, bool kSwish>
void launch_affine(const Tensor& y, const Tensor& x, const double* affine, int64_t C) {
  const int64_t n = x.numel();
  if (n == 0) return;
  affine_kernel<T, kSwish><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                             compute_stream()>>>(
      static_cast<T*>(y.raw_data()), static_cast<const T*>(x.raw_data()), affine, n, C);
  EMBER_CUDA_CHECK_LAUNCH("batch_norm affine_kernel");
}

// running [C] (any stride) = momentum * running + (1 - momentum) * batch * factor.
template <typename T>
__global__ void running_update_kernel(T* running, int64_t stride, Param<T> batch, double momentum,
                                      double factor, int64_t C) {
  for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < C;
       c += (int64_t)gridDim.x * blockDim.x) {
    const double old = static_cast<double>(running[c * stride]);
    running[c * stride] = static_cast<T>(momentum * old + (1.0 - momentum) * batch[c] * factor);
  }
}

// ---- Batch norm + activation, fused --------------------------------------------------------
// Training forward: 3 launches (moments pass 1, pass 2 with the running update, the elementwise
// y = act(z)); backward: 3 (the K = 2 column sums' two passes, the elementwise dx). Per element
// the arithmetic is in T, on the per-channel constants of kernels/norm_math.h, as on the CPU.

// Pass 1 of the statistics: block (32, 8) owns 32 columns and one chunk of rows. Thread (x, y)
// sums x - k and (x - k)^2 in double over rows y, y + 8, ... of the chunk, k the chunk's first
// row (every thread of a column shifts by the same k); the 8 row-partials are added in y order
// through shared memory and turned into the chunk's moments: partial [chunks, 2, C] = mean, m2.
template <typename T>
__global__ void __launch_bounds__(kTileCols* kTileRows)
    moments_partials_kernel(const T* x /*[rows, C]*/, int64_t rows, int64_t C, int64_t chunk_rows,
                            double* partial) {
  __shared__ double shared[2][kTileRows][kTileCols];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kTileCols + tx;
  const int64_t chunk = blockIdx.y;
  const int64_t begin = chunk * chunk_rows;
  const int64_t end = begin + chunk_rows < rows ? begin + chunk_rows : rows;
  double s1 = 0.0, s2 = 0.0;
  if (c < C) {
    const double k = static_cast<double>(x[begin * C + c]);
    for (int64_t r = begin + ty; r < end; r += kTileRows) {
      const double d = static_cast<double>(x[r * C + c]) - k;
      s1 += d;
      s2 += d * d;
    }
  }
  shared[0][ty][tx] = s1;
  shared[1][ty][tx] = s2;
  __syncthreads();
  if (ty == 0 && c < C) {
    double t1 = shared[0][0][tx], t2 = shared[1][0][tx];
    for (int j = 1; j < kTileRows; ++j) {
      t1 += shared[0][j][tx];
      t2 += shared[1][j][tx];
    }
    const norm_math::Moments m = norm_math::moments_from_shifted_sums(
        static_cast<double>(end - begin), static_cast<double>(x[begin * C + c]), t1, t2);
    partial[(chunk * 2) * C + c] = m.mean;
    partial[(chunk * 2 + 1) * C + c] = m.m2;
  }
}

// What pass 2 writes for channel c: the statistics, the affine constants for the elementwise
// kernel, and the running statistics (one thread per channel updates both in place).
template <typename T>
struct MomentsEpilogue {
  T* mean;    // [C], may be null; likewise invstd
  T* invstd;
  T* affine;  // [3, C]: mean, scale, shift in T
  Param<T> weight, bias;
  T* running_mean;  // [C] with its stride, or null (then running_var is null too)
  T* running_var;
  int64_t running_mean_stride, running_var_stride;
  double momentum, var_factor, eps;
  int64_t C;
  __device__ void operator()(int64_t c, const norm_math::Moments& m) const {
    const norm_math::ChannelStats<T> s = norm_math::channel_stats<T>(m, eps);
    const norm_math::Affine<T> a = norm_math::affine_of(s.mean, s.invstd, weight[c], bias[c]);
    if (mean) mean[c] = s.mean;
    if (invstd) invstd[c] = s.invstd;
    affine[c] = a.mean;
    affine[C + c] = a.scale;
    affine[2 * C + c] = a.shift;
    if (running_mean) {
      T& rm = running_mean[c * running_mean_stride];
      T& rv = running_var[c * running_var_stride];
      rm = static_cast<T>(norm_math::running_average(static_cast<double>(rm),
                                                     static_cast<double>(s.mean), momentum, 1.0));
      rv = static_cast<T>(norm_math::running_average(static_cast<double>(rv),
                                                     static_cast<double>(s.var), momentum,
                                                     var_factor));
    }
  }
};

// Pass 2: thread (x, y) merges the moments of chunks y, y + 8, ... in order (a chunk's count is
// fixed by the chunking), then the 8 merged moments are merged in y order through shared
// memory, and the epilogue gets column c's total. chunks may be 0 (rows = 0: NaN statistics).
template <typename T>
__global__ void __launch_bounds__(kTileCols* kTileRows)
    moments_finish_kernel(const double* partial /*[chunks, 2, C]*/, int64_t rows, int64_t chunks,
                          int64_t chunk_rows, int64_t C, MomentsEpilogue<T> epilogue) {
  __shared__ double shared[3][kTileRows][kTileCols];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kTileCols + tx;
  norm_math::Moments acc{0.0, 0.0, 0.0};
  if (c < C)
    for (int64_t q = ty; q < chunks; q += kTileRows) {
      const int64_t left = rows - q * chunk_rows;
      const double count = static_cast<double>(left < chunk_rows ? left : chunk_rows);
      acc = norm_math::merge_moments(
          acc, {count, partial[(q * 2) * C + c], partial[(q * 2 + 1) * C + c]});
    }
  shared[0][ty][tx] = acc.count;
  shared[1][ty][tx] = acc.mean;
  shared[2][ty][tx] = acc.m2;
  __syncthreads();
  if (ty == 0 && c < C) {
    norm_math::Moments total{shared[0][0][tx], shared[1][0][tx], shared[2][0][tx]};
    for (int j = 1; j < kTileRows; ++j)
      total = norm_math::merge_moments(total,
                                       {shared[0][j][tx], shared[1][j][tx], shared[2][j][tx]});
    epilogue(c, total);
  }
}

// y [n = M * C] = act((x - mean) * scale + shift), all in T.
template <typename T, bool kSwish>
__global__ void affine_act_kernel(T* y, const T* x, const T* affine /*[3, C]*/, int64_t n,
                                  int64_t C) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = i % C;
    y[i] = norm_math::activation<CudaMath, kSwish>((x[i] - affine[c]) * affine[C + c] +
                                                   affine[2 * C + c]);
  }
}

// The constants of channel c that the backward recomputes z with (as the forward did).
template <typename T>
__device__ norm_math::Affine<T> backward_affine(const Param<T>& mean, const Param<T>& invstd,
                                                const Param<T>& weight, const Param<T>& bias,
                                                int64_t c) {
  return norm_math::affine_of(static_cast<T>(mean[c]), static_cast<T>(invstd[c]), weight[c],
                              bias[c]);
}

// Backward pass 1, column_partials_kernel's shape with the constants of column c computed once
// per thread: partial [chunks, 2, C] = sum gz, sum gz * xhat over the chunk, gz = dy * act'(z).
template <typename T, bool kSwish>
__global__ void __launch_bounds__(kTileCols* kTileRows)
    act_grad_partials_kernel(const T* x /*[rows, C]*/, const T* dy /*[rows, C]*/,
                             Param<T> mean, Param<T> invstd, Param<T> weight, Param<T> bias,
                             int64_t rows, int64_t C, int64_t chunk_rows, double* partial) {
  __shared__ double shared[2][kTileRows][kTileCols];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kTileCols + tx;
  const int64_t chunk = blockIdx.y;
  const int64_t begin = chunk * chunk_rows;
  const int64_t end = begin + chunk_rows < rows ? begin + chunk_rows : rows;
  double sum_g = 0.0, sum_g_xhat = 0.0;
  if (c < C) {
    const norm_math::Affine<T> a = backward_affine(mean, invstd, weight, bias, c);
    for (int64_t r = begin + ty; r < end; r += kTileRows) {
      const T xv = x[r * C + c];
      const T g = norm_math::activation_grad<CudaMath, kSwish>(dy[r * C + c],
                                                              (xv - a.mean) * a.scale + a.shift);
      sum_g += g;
      sum_g_xhat += g * ((xv - a.mean) * a.invstd);
    }
  }
  shared[0][ty][tx] = sum_g;
  shared[1][ty][tx] = sum_g_xhat;
  __syncthreads();
  if (ty == 0 && c < C) {
    for (int k = 0; k < 2; ++k) {
      double total = shared[k][0][tx];
      for (int j = 1; j < kTileRows; ++j) total += shared[k][j][tx];
      partial[(chunk * 2 + k) * C + c] = total;
    }
  }
}

// Backward pass 2's epilogue (column_finish_kernel): dbias = sum gz, dweight = sum gz * xhat,
// and the constants of dx = a gz - b (x - mean) - d, k = weight * invstd / n, a = k n,
// b = k invstd sum(gz xhat), d = k sum(gz), into coef [6, C] (mean, scale, shift, a, b, d).
template <typename T>
struct ActGradEpilogue {
  T* dbias;    // [C] or null
  T* dweight;  // [C] or null
  T* coef;     // [6, C]
  Param<T> mean, invstd, weight, bias;
  int64_t C;
  double n;
  __device__ void operator()(int64_t c, const double* total) const {
    if (dbias) dbias[c] = static_cast<T>(total[0]);
    if (dweight) dweight[c] = static_cast<T>(total[1]);
    const norm_math::Affine<T> a = backward_affine(mean, invstd, weight, bias, c);
    const double inv = invstd[c], k = weight[c] * inv / n;
    coef[c] = a.mean;
    coef[C + c] = a.scale;
    coef[2 * C + c] = a.shift;
    coef[3 * C + c] = static_cast<T>(k * n);
    coef[4 * C + c] = static_cast<T>(k * inv * total[1]);
    coef[5 * C + c] = static_cast<T>(k * total[0]);
  }
};

// dx [n = M * C] = a gz - b (x - mean) - d, gz recomputed from x and dy, all in T.
template <typename T, bool kSwish>
__global__ void act_dx_kernel(T* dx, const T* dy, const T* x, const T* coef /*[6, C]*/,
                              int64_t n, int64_t C) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = i % C;
    const T xv = x[i], mu = coef[c];
    const T g = norm_math::activation_grad<CudaMath, kSwish>(dy[i],
                                                            (xv - mu) * coef[C + c] + coef[2 * C + c]);
    dx[i] = coef[3 * C + c] * g - coef[4 * C + c] * (xv - mu) - coef[5 * C + c];
  }
}

template <typename T, bool kSwish>
void act_forward_training(const Tensor& y, const Tensor& mean, const Tensor& invstd,
                          const Tensor& x, const Tensor& weight, const Tensor& bias,
                          const RunningStats& running, double eps) {
  const int64_t C = x.shape().back();
  if (C == 0) return;
  const int64_t M = x.numel() / C;  // may be 0: NaN statistics, as on the CPU
  const T* px = static_cast<const T*>(x.raw_data());  // [M, C]
  const Chunking chunking = chunking_for(M);
  const unsigned col_tiles = blocks_for(C, kTileCols);
  const dim3 block(kTileCols, kTileRows);
  Tensor partial = workspace((chunking.chunks > 0 ? chunking.chunks : 1) * 2 * C, x.device());
  double* pp = static_cast<double*>(partial.raw_data());
  if (chunking.chunks > 0) {
    moments_partials_kernel<T><<<dim3(col_tiles, static_cast<unsigned>(chunking.chunks)), block,
                                 0, compute_stream()>>>(px, M, C, chunking.rows_per_chunk, pp);
    EMBER_CUDA_CHECK_LAUNCH("moments_partials_kernel");
  }
  Tensor affine = empty({3 * C}, {x.dtype(), x.device()});  // mean, scale, shift in T
  T* pa = static_cast<T*>(affine.raw_data());
  const bool update = running.mean.defined();
  MomentsEpilogue<T> epilogue{data_or_null<T>(mean),
                              data_or_null<T>(invstd),
                              pa,
                              param_of<T>(weight, 1.0),
                              param_of<T>(bias, 0.0),
                              update ? data_or_null<T>(running.mean) : nullptr,
                              update ? data_or_null<T>(running.var) : nullptr,
                              update ? running.mean.strides()[0] : 0,
                              update ? running.var.strides()[0] : 0,
                              running.momentum,
                              running.unbiased_var ? static_cast<double>(M) / (M - 1.0) : 1.0,
                              eps,
                              C};
  moments_finish_kernel<T><<<col_tiles, block, 0, compute_stream()>>>(
      pp, M, chunking.chunks, chunking.rows_per_chunk, C, epilogue);
  EMBER_CUDA_CHECK_LAUNCH("moments_finish_kernel");
  const int64_t n = M * C;
  if (n == 0) return;
  affine_act_kernel<T, kSwish><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                                 compute_stream()>>>(static_cast<T*>(y.raw_data()), px, pa, n, C);
  EMBER_CUDA_CHECK_LAUNCH("affine_act_kernel");
}

template <typename T, bool kSwish>
void act_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy,
                  const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                  const Tensor& invstd) {
  const int64_t C = x.shape().back();
  if (C == 0) return;
  const int64_t M = x.numel() / C;  // may be 0: the sums are then 0, as on the CPU
  const T* px = static_cast<const T*>(x.raw_data());    // [M, C]
  const T* pdy = static_cast<const T*>(dy.raw_data());  // [M, C]
  const Param<T> mu = param_of<T>(mean, 0.0), inv = param_of<T>(invstd, 1.0);
  const Param<T> w = param_of<T>(weight, 1.0), b = param_of<T>(bias, 0.0);
  const Chunking chunking = chunking_for(M);
  const unsigned col_tiles = blocks_for(C, kTileCols);
  const dim3 block(kTileCols, kTileRows);
  Tensor partial = workspace((chunking.chunks > 0 ? chunking.chunks : 1) * 2 * C, x.device());
  double* pp = static_cast<double*>(partial.raw_data());
  if (chunking.chunks > 0) {
    act_grad_partials_kernel<T, kSwish><<<dim3(col_tiles, static_cast<unsigned>(chunking.chunks)),
                                          block, 0, compute_stream()>>>(
        px, pdy, mu, inv, w, b, M, C, chunking.rows_per_chunk, pp);
    EMBER_CUDA_CHECK_LAUNCH("act_grad_partials_kernel");
  }
  Tensor coef = empty({6 * C}, {x.dtype(), x.device()});
  T* pc = static_cast<T*>(coef.raw_data());
  column_finish_kernel<2><<<col_tiles, block, 0, compute_stream()>>>(
      pp, chunking.chunks, C,
      ActGradEpilogue<T>{data_or_null<T>(dbias), data_or_null<T>(dweight), pc, mu, inv, w, b, C,
                         static_cast<double>(M)});
  EMBER_CUDA_CHECK_LAUNCH("column_finish_kernel (batch_norm backward)");
  const int64_t n = M * C;
  if (!dx.defined() || n == 0) return;
  act_dx_kernel<T, kSwish><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                             compute_stream()>>>(static_cast<T*>(dx.raw_data()), pdy, px, pc, n,
                                                 C);
  EMBER_CUDA_CHECK_LAUNCH("act_dx_kernel");
}

// ---- Layer norm -------------------------------------------------------------------------------

// Butterfly sum over a warp: every lane ends with the same value (a + b == b + a in IEEE), and
// the pairing is fixed, so the result is deterministic.
__device__ __forceinline__ double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

constexpr int kWarpsPerBlock = kThreads / 32;

unsigned row_blocks(int64_t rows) {
  int64_t blocks = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  if (blocks > 65535LL * 16) blocks = 65535LL * 16;  // the warps loop over the rest
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

// One warp per row of x [M, D]; the row loop is warp-uniform, so the shuffles see all 32 lanes.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    layer_norm_forward_kernel(T* y, T* mean, T* invstd, const T* x, Param<T> weight,
                              Param<T> bias, int64_t M, int64_t D, double eps) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t)gridDim.x * kWarpsPerBlock;
  const double count = static_cast<double>(D);
  for (int64_t r = blockIdx.x * (int64_t)kWarpsPerBlock + threadIdx.x / 32; r < M; r += warps) {
    const T* row = x + r * D;
    double sum = 0;
    for (int64_t d = lane; d < D; d += 32) sum += static_cast<double>(row[d]);
    const double mu = warp_sum(sum) / count;
    double squares = 0;
    for (int64_t d = lane; d < D; d += 32) {
      const double v = static_cast<double>(row[d]) - mu;
      squares += v * v;
    }
    const double inv = 1.0 / sqrt(warp_sum(squares) / count + eps);
    if (lane == 0) {
      mean[r] = static_cast<T>(mu);
      invstd[r] = static_cast<T>(inv);
    }
    T* out = y + r * D;
    for (int64_t d = lane; d < D; d += 32)
      out[d] = static_cast<T>((static_cast<double>(row[d]) - mu) * inv * weight[d] + bias[d]);
  }
}

// dx per row with g = dy * weight: invstd * (g - mean_D(g) - xhat * mean_D(g * xhat)).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    layer_norm_dx_kernel(T* dx, const T* dy, const T* x, const T* mean, const T* invstd,
                         Param<T> weight, int64_t M, int64_t D) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t)gridDim.x * kWarpsPerBlock;
  const double count = static_cast<double>(D);
  for (int64_t r = blockIdx.x * (int64_t)kWarpsPerBlock + threadIdx.x / 32; r < M; r += warps) {
    const double mu = static_cast<double>(mean[r]), inv = static_cast<double>(invstd[r]);
    const T* xr = x + r * D;
    const T* dyr = dy + r * D;
    double sum_g = 0, sum_g_xhat = 0;
    for (int64_t d = lane; d < D; d += 32) {
      const double g = static_cast<double>(dyr[d]) * weight[d];
      sum_g += g;
      sum_g_xhat += g * (static_cast<double>(xr[d]) - mu) * inv;
    }
    const double mean_g = warp_sum(sum_g) / count;
    const double mean_g_xhat = warp_sum(sum_g_xhat) / count;
    T* out = dx + r * D;
    for (int64_t d = lane; d < D; d += 32) {
      const double g = static_cast<double>(dyr[d]) * weight[d];
      const double xhat = (static_cast<double>(xr[d]) - mu) * inv;
      out[d] = static_cast<T>(inv * (g - mean_g - xhat * mean_g_xhat));
    }
  }
}

// x, dy [M, D] with per-row mean/invstd: acc[0] += dy * xhat, acc[1] += dy.
template <typename T>
struct LayerNormGradLoad {
  const T* x;
  const T* dy;
  const T* mean;
  const T* invstd;
  int64_t D;
  __device__ void operator()(int64_t r, int64_t d, double* acc) const {
    const double g = static_cast<double>(dy[r * D + d]);
    acc[0] += g * (static_cast<double>(x[r * D + d]) - static_cast<double>(mean[r])) *
              static_cast<double>(invstd[r]);
    acc[1] += g;
  }
};

template <typename T>
struct LayerNormGradEpilogue {
  T* dweight;  // [D] or null
  T* dbias;    // [D] or null
  __device__ void operator()(int64_t d, const double* total) const {
    if (dweight) dweight[d] = static_cast<T>(total[0]);
    if (dbias) dbias[d] = static_cast<T>(total[1]);
  }
};

}  // namespace

void batch_norm_forward_training(const Tensor& y, const Tensor& mean, const Tensor& var,
                                 const Tensor& invstd, const Tensor& x, const Tensor& weight,
                                 const Tensor& bias, double eps) {
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t C = x.shape().back();
    if (C == 0) return;
    const int64_t M = x.numel() / C;  // may be 0: the sums are then 0, as on the CPU
    const T* px = static_cast<const T*>(x.raw_data());  // [M, C]
    Tensor affine = workspace(3 * C, x.device());        // [3, C]: mu, scale, shift
    double* pa = static_cast<double*>(affine.raw_data());
    const double count = static_cast<double>(M);
    // Two passes over x, like the CPU: the mean, then the centred second moment.
    column_sums<1>(M, C, SumLoad<T>{px, C}, MeanEpilogue{pa, count}, x.device());
    column_sums<1>(M, C, CentredSquareLoad<T>{px, pa, C},
                   StatsEpilogue<T>{data_or_null<T>(mean), data_or_null<T>(var),
                                    data_or_null<T>(invstd), pa, param_of<T>(weight, 1.0),
                                    param_of<T>(bias, 0.0), C, count, eps},
                   x.device());
    launch_affine<T, false>(y, x, pa, C);
  });
}

void batch_norm_act_forward_training(const Tensor& y, const Tensor& mean, const Tensor& invstd,
                                     const Tensor& x, const Tensor& weight, const Tensor& bias,
                                     const RunningStats& running, double eps,
                                     NormActivation act) {
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (act == NormActivation::Swish)
      act_forward_training<T, true>(y, mean, invstd, x, weight, bias, running, eps);
    else
      act_forward_training<T, false>(y, mean, invstd, x, weight, bias, running, eps);
  });
}

void batch_norm_act_forward_inference(const Tensor& y, const Tensor& x, const Tensor& weight,
                                      const Tensor& bias, const Tensor& running_mean,
                                      const Tensor& running_var, double eps, NormActivation act) {
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t C = x.shape().back();
    if (C == 0) return;
    Tensor affine = workspace(3 * C, x.device());
    double* pa = static_cast<double*>(affine.raw_data());
    inference_affine_kernel<T><<<::ember::cuda::grid_for(C, kThreads), kThreads, 0,
                                 compute_stream()>>>(
        pa, param_of<T>(weight, 1.0), param_of<T>(bias, 0.0), param_of<T>(running_mean, 0.0),
        param_of<T>(running_var, 1.0), C, eps);
    EMBER_CUDA_CHECK_LAUNCH("inference_affine_kernel");
    if (act == NormActivation::Swish) launch_affine<T, true>(y, x, pa, C);
    else launch_affine<T, false>(y, x, pa, C);
  });
}

void batch_norm_act_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                             const Tensor& dy, const Tensor& x, const Tensor& weight,
                             const Tensor& bias, const Tensor& mean, const Tensor& invstd,
                             NormActivation act) {
  dispatch_float(x.dtype(), "batch_norm backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (act == NormActivation::Swish)
      act_backward<T, true>(dx, dweight, dbias, dy, x, weight, bias, mean, invstd);
    else
      act_backward<T, false>(dx, dweight, dbias, dy, x, weight, bias, mean, invstd);
  });
}

void batch_norm_forward_inference(const Tensor& y, const Tensor& x, const Tensor& weight,
                                  const Tensor& bias, const Tensor& running_mean,
                                  const Tensor& running_var, double eps) {
  cuda::batch_norm_act_forward_inference(y, x, weight, bias, running_mean, running_var, eps,
                                         NormActivation::Identity);
}

void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd) {
  cuda::batch_norm_act_backward(dx, dweight, dbias, dy, x, weight, Tensor(), mean, invstd,
                                NormActivation::Identity);
}

void batch_norm_update_running_stats(const Tensor& running_mean, const Tensor& running_var,
                                     const Tensor& mean, const Tensor& var, double momentum,
                                     int64_t count, bool unbiased_var) {
  dispatch_float(mean.dtype(), "batch_norm running statistics", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t C = mean.numel();
    if (C == 0) return;
    const double correction =
        unbiased_var ? static_cast<double>(count) / static_cast<double>(count - 1) : 1.0;
    auto update = [&](const Tensor& running, const Tensor& batch, double factor) {
      if (!running.defined()) return;
      running_update_kernel<T><<<::ember::cuda::grid_for(C, kThreads), kThreads, 0,
                                 compute_stream()>>>(static_cast<T*>(running.raw_data()),
                                                     running.strides()[0], param_of<T>(batch, 0.0),
                                                     momentum, factor, C);
      EMBER_CUDA_CHECK_LAUNCH("running_update_kernel");
    };
    update(running_mean, mean, 1.0);
    update(running_var, var, correction);
  });
}

void layer_norm_forward(const Tensor& y, const Tensor& mean, const Tensor& invstd,
                        const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t M = mean.numel(), D = M > 0 ? x.numel() / M : 0;
    // D == 0 still launches: mean and invstd are written (NaN, as on the CPU), only y is empty.
    if (M == 0) return;
    layer_norm_forward_kernel<T><<<row_blocks(M), kThreads, 0, compute_stream()>>>(
        static_cast<T*>(y.raw_data()), static_cast<T*>(mean.raw_data()),
        static_cast<T*>(invstd.raw_data()), static_cast<const T*>(x.raw_data()),
        param_of<T>(weight, 1.0), param_of<T>(bias, 0.0), M, D, eps);
    EMBER_CUDA_CHECK_LAUNCH("layer_norm_forward_kernel");
  });
}

void layer_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd) {
  dispatch_float(x.dtype(), "layer_norm backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t M = mean.numel(), D = M > 0 ? x.numel() / M : 0;
    const T* px = static_cast<const T*>(x.raw_data());         // [M, D]
    const T* pdy = static_cast<const T*>(dy.raw_data());       // [M, D]
    const T* pmean = static_cast<const T*>(mean.raw_data());   // [M]
    const T* pinv = static_cast<const T*>(invstd.raw_data());  // [M]
    if (dx.defined() && M > 0 && D > 0) {
      layer_norm_dx_kernel<T><<<row_blocks(M), kThreads, 0, compute_stream()>>>(
          static_cast<T*>(dx.raw_data()), pdy, px, pmean, pinv, param_of<T>(weight, 1.0), M, D);
      EMBER_CUDA_CHECK_LAUNCH("layer_norm_dx_kernel");
    }
    if (!dweight.defined() && !dbias.defined()) return;
    // D from the parameter gradients when M == 0 (then they are zeros, like the CPU's).
    const int64_t cols = dweight.defined() ? dweight.numel() : dbias.numel();
    column_sums<2>(M, cols, LayerNormGradLoad<T>{px, pdy, pmean, pinv, cols},
                   LayerNormGradEpilogue<T>{data_or_null<T>(dweight), data_or_null<T>(dbias)},
                   x.device());
  });
}

}  // namespace ember::kernels::cuda
