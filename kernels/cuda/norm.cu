// CUDA batch norm and layer norm (contract: kernels/norm.h; reference: kernels/cpu/norm.cpp).
// Same formulas as the CPU, every statistic accumulated in double. Per-column sums over rows
// (batch norm's per-channel statistics and gradients, layer norm's dweight/dbias) use a
// deterministic two-pass scheme: pass 1 gives each (column tile, chunk of rows) block one
// partial sum per column, pass 2 adds the chunks' partials in a fixed order. The chunking depends
// only on the row count, so results are bit-identical from run to run (not bit-identical to the
// CPU, whose blocks of rows differ: both are double sums of the same terms). Design notes:
// docs/cuda_kernels.md ("Normalisation, indexing, resampling, optimizer updates").
// Tested against the CPU through ops in tests/test_cuda_norm.cpp (skipped without a GPU).
#include <cstdint>

#include "kernels/norm.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {

using ::ember::cuda::compute_stream;

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

// y [M, C] = (x - mu[c]) * scale[c] + shift[c].
template <typename T>
__global__ void affine_kernel(T* y, const T* x, const double* affine /*[3, C]*/, int64_t n,
                              int64_t C) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = i % C;
    y[i] = static_cast<T>((static_cast<double>(x[i]) - affine[c]) * affine[C + c] +
                          affine[2 * C + c]);
  }
}

template <typename T>
void launch_affine(const Tensor& y, const Tensor& x, const double* affine, int64_t C) {
  const int64_t n = x.numel();
  if (n == 0) return;
  affine_kernel<T><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0, compute_stream()>>>(
      static_cast<T*>(y.raw_data()), static_cast<const T*>(x.raw_data()), affine, n, C);
  EMBER_CUDA_CHECK_LAUNCH("batch_norm affine_kernel");
}

// x, dy [M, C]: acc[0] += dy, acc[1] += dy * xhat.
template <typename T>
struct BatchNormGradLoad {
  const T* x;
  const T* dy;
  Param<T> mean, invstd;
  int64_t C;
  __device__ void operator()(int64_t r, int64_t c, double* acc) const {
    const double g = static_cast<double>(dy[r * C + c]);
    acc[0] += g;
    acc[1] += g * (static_cast<double>(x[r * C + c]) - mean[c]) * invstd[c];
  }
};

template <typename T>
struct BatchNormGradEpilogue {
  T* dbias;    // [C] or null
  T* dweight;  // [C] or null
  double* sums;  // [2, C]: sum dy, sum dy * xhat
  int64_t C;
  __device__ void operator()(int64_t c, const double* total) const {
    sums[c] = total[0];
    sums[C + c] = total[1];
    if (dbias) dbias[c] = static_cast<T>(total[0]);
    if (dweight) dweight[c] = static_cast<T>(total[1]);
  }
};

// dx [M, C] = weight * invstd / n * (n * dy - sum dy - xhat * sum dy xhat).
template <typename T>
__global__ void batch_norm_dx_kernel(T* dx, const T* dy, const T* x, const double* sums,
                                     Param<T> weight, Param<T> mean, Param<T> invstd, int64_t total,
                                     int64_t C, double n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = i % C;
    const double inv = invstd[c];
    const double k = weight[c] * inv / n;
    const double xhat = (static_cast<double>(x[i]) - mean[c]) * inv;
    dx[i] = static_cast<T>(k * (n * static_cast<double>(dy[i]) - sums[c] - xhat * sums[C + c]));
  }
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
    launch_affine<T>(y, x, pa, C);
  });
}

void batch_norm_forward_inference(const Tensor& y, const Tensor& x, const Tensor& weight,
                                  const Tensor& bias, const Tensor& running_mean,
                                  const Tensor& running_var, double eps) {
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
    launch_affine<T>(y, x, pa, C);
  });
}

void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& mean, const Tensor& invstd) {
  dispatch_float(x.dtype(), "batch_norm backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t C = x.shape().back();
    if (C == 0) return;
    const int64_t M = x.numel() / C;  // may be 0: the sums are then 0, as on the CPU
    const T* px = static_cast<const T*>(x.raw_data());    // [M, C]
    const T* pdy = static_cast<const T*>(dy.raw_data());  // [M, C]
    const Param<T> mu = param_of<T>(mean, 0.0), inv = param_of<T>(invstd, 1.0);
    Tensor sums = workspace(2 * C, x.device());  // [2, C]: sum dy, sum dy * xhat
    double* ps = static_cast<double*>(sums.raw_data());
    column_sums<2>(M, C, BatchNormGradLoad<T>{px, pdy, mu, inv, C},
                   BatchNormGradEpilogue<T>{data_or_null<T>(dbias), data_or_null<T>(dweight), ps, C},
                   x.device());
    const int64_t total = M * C;
    if (!dx.defined() || total == 0) return;
    batch_norm_dx_kernel<T><<<::ember::cuda::grid_for(total, kThreads), kThreads, 0,
                              compute_stream()>>>(static_cast<T*>(dx.raw_data()), pdy, px, ps,
                                                  param_of<T>(weight, 1.0), mu, inv, total, C,
                                                  static_cast<double>(M));
    EMBER_CUDA_CHECK_LAUNCH("batch_norm_dx_kernel");
  });
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
