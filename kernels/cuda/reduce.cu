// CUDA reductions: sum and amax over any set of axes (out in keepdim layout) and argmax along one
// axis, matching the CPU reference (kernels/cpu/reduce.cpp): float32 sums accumulate in double,
// amax propagates NaN, argmax returns the first maximum and treats NaN as the CPU's scan does.
// No atomics: every result comes from a fixed-order tree whose shape depends only on the
// tensor shapes, so reruns (and different GPUs) give identical bits.
//
// Plans (docs/cuda_kernels.md, "Elementwise, reductions, softmax"): x is viewed as
// [M outputs] x [R reduced elements]; offset(j, r) = kept(j) + reduced(r), both from
// kernels/cuda/offset_calculator.h.
//   row:    one warp (R <= kWarpRowMax) or one block per output; a long R is split into G chunks
//           whose partials a second pass combines, so a full reduction of 10^7..10^8 elements
//           fills the GPU.
//   column: when adjacent outputs are adjacent in memory (summing [M, C] over M), threads run
//           across outputs for coalescing, R is split into G chunks, a second pass combines them;
//           also for very short rows (R <= 8) in any layout.
// Tested against the CPU in tests/test_cuda_reduce.cpp (skipped without a GPU).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/offset_calculator.h"
#include "kernels/reduce.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {

constexpr int kBlockThreads = 256;
constexpr long long kWarpRowMax = 2048;      // longest row a single warp reduces
constexpr long long kBlockChunkMin = 4096;   // fewest elements a row-plan block gets
constexpr long long kTargetBlocks = 2048;    // enough blocks to fill an H100 several times over
constexpr int kColumnLanes = 32;             // outputs per column-plan block (threadIdx.x)
constexpr int kColumnRows = 8;               // row groups per column-plan block (threadIdx.y)
constexpr long long kMaxGridY = 65535;

long long ceil_div(long long a, long long b) { return (a + b - 1) / b; }

// Offset of linear index i; a single dimension (the common case) skips the 64-bit division.
__device__ __forceinline__ int64_t offset_of(const OffsetCalculator<1>& calc, long long i) {
  if (calc.dims == 0) return 0;
  if (calc.dims == 1) return i * calc.strides[0][0];
  int64_t off[1];
  calc.offsets(i, off);
  return off[0];
}

template <typename T>
struct SumOp {
  using Acc = double;  // as the CPU: float32 and float64 both accumulate in double
  __device__ __forceinline__ static Acc identity() { return 0.0; }
  __device__ __forceinline__ Acc operator()(Acc a, Acc b) const { return a + b; }
};

template <typename T>
struct MaxOp {
  using Acc = T;
  __device__ __forceinline__ static Acc identity() { return -INFINITY; }
  // NaN wins and stays (the CPU: once a slot is NaN it stays NaN); otherwise the larger.
  __device__ __forceinline__ Acc operator()(Acc a, Acc b) const {
    if (isnan(a)) return a;
    if (isnan(b)) return b;
    return b > a ? b : a;
  }
};

// ---- row plan ----
// x: In elements at kept(j) + reduced(r); out: [G, M] (G == 1: out[j]), Out = T or the
// accumulator for partials. Warp w of the block owns output j = blockIdx.x * warps + w, its lanes
// stride over r, then a butterfly combines them.
template <typename Op, typename In, typename Out>
__global__ void reduce_warp_row_kernel(const In* x, Out* out, long long M, long long R,
                                       OffsetCalculator<1> kept, OffsetCalculator<1> reduced) {
  using Acc = typename Op::Acc;
  const Op op;
  const long long warps = blockDim.x / 32;
  const long long j = blockIdx.x * warps + threadIdx.x / 32;
  if (j >= M) return;  // a whole warp leaves together: no shuffle misses a lane
  const int lane = threadIdx.x % 32;
  const int64_t base = offset_of(kept, j);
  Acc acc = Op::identity();
  for (long long r = lane; r < R; r += 32) acc = op(acc, static_cast<Acc>(x[base + offset_of(reduced, r)]));
  acc = warp_all_reduce(acc, op);
  if (lane == 0) out[j] = static_cast<Out>(acc);
}

// Block (j = blockIdx.x, g = blockIdx.y) reduces r in [g * chunk, (g + 1) * chunk) of output j
// into out[g * M + j]. gridDim.x may be smaller than M: blocks then stride over outputs.
template <typename Op, typename In, typename Out>
__global__ void reduce_block_row_kernel(const In* x, Out* out, long long M, long long R,
                                        long long chunk, OffsetCalculator<1> kept,
                                        OffsetCalculator<1> reduced) {
  using Acc = typename Op::Acc;
  __shared__ Acc shared[32];
  const Op op;
  const long long r0 = blockIdx.y * chunk;
  const long long r1 = r0 + chunk < R ? r0 + chunk : R;
  for (long long j = blockIdx.x; j < M; j += gridDim.x) {
    const int64_t base = offset_of(kept, j);
    Acc acc = Op::identity();
    for (long long r = r0 + threadIdx.x; r < r1; r += blockDim.x)
      acc = op(acc, static_cast<Acc>(x[base + offset_of(reduced, r)]));
    acc = block_all_reduce(acc, op, Op::identity(), shared);
    if (threadIdx.x == 0) out[blockIdx.y * M + j] = static_cast<Out>(acc);
  }
}

// ---- column plan ----
// Block (bx, g) with threads (32, kColumnRows): lane tx owns output j = bx * 32 + tx, row group
// ty takes rows r0 + ty, r0 + ty + kColumnRows, ... of chunk g; row groups are then combined in
// order 0..kColumnRows-1 through shared memory. Writes out[g * M + j].
template <typename Op, typename In, typename Out>
__global__ void reduce_column_kernel(const In* x, Out* out, long long M, long long R,
                                     long long chunk, OffsetCalculator<1> kept,
                                     OffsetCalculator<1> reduced) {
  using Acc = typename Op::Acc;
  __shared__ Acc partial[kColumnRows][kColumnLanes];
  const Op op;
  const long long j = blockIdx.x * (long long)kColumnLanes + threadIdx.x;
  const long long r0 = blockIdx.y * chunk;
  const long long r1 = r0 + chunk < R ? r0 + chunk : R;
  Acc acc = Op::identity();
  if (j < M) {
    const int64_t base = offset_of(kept, j);
    for (long long r = r0 + threadIdx.y; r < r1; r += kColumnRows)
      acc = op(acc, static_cast<Acc>(x[base + offset_of(reduced, r)]));
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && j < M) {
    for (int k = 1; k < kColumnRows; ++k) acc = op(acc, partial[k][threadIdx.x]);
    out[blockIdx.y * M + j] = static_cast<Out>(acc);
  }
}

OffsetCalculator<1> line_calc(long long size, long long stride) {
  return make_offset_calculator<1>(Shape{size}, {Shape{stride}});
}

// Reduces x (kept/reduced layout) into out[j], j < M. Launches one pass, or two when R is split
// into chunks (partials [G, M] in a temporary of the accumulator type).
template <typename Op, typename T>
void run_reduction(const char* name, const T* x, T* out, long long M, long long R,
                   const OffsetCalculator<1>& kept, const OffsetCalculator<1>& reduced,
                   Device device) {
  using Acc = typename Op::Acc;
  cudaStream_t stream = ::ember::cuda::compute_stream();
  const DType acc_dtype = dtype_of<Acc>();
  const bool reduced_contiguous = reduced.dims == 0 || (reduced.dims == 1 && reduced.strides[0][0] == 1);
  const bool outputs_adjacent = kept.dims > 0 && kept.strides[0][kept.dims - 1] == 1;

  // R == 1 (nothing reduced) is a copy: thread per output is the coalesced way to do it. Very
  // short rows (R <= kColumnRows, e.g. [N, 3] over the 3) also go here whatever the layout: a
  // warp per output would leave most lanes idle.
  if ((outputs_adjacent && (R == 1 || !reduced_contiguous)) || R <= kColumnRows) {  // column plan
    const unsigned blocks_x = static_cast<unsigned>(ceil_div(M, kColumnLanes));
    long long groups = std::min(ceil_div(R, 64), ceil_div(kTargetBlocks, (long long)blocks_x));
    groups = std::max(1LL, std::min(groups, kMaxGridY));
    const long long chunk = ceil_div(R, groups);
    groups = ceil_div(R, chunk);
    const dim3 block(kColumnLanes, kColumnRows);
    if (groups == 1) {
      reduce_column_kernel<Op><<<dim3(blocks_x, 1), block, 0, stream>>>(x, out, M, R, chunk,
                                                                         kept, reduced);
      EMBER_CUDA_CHECK_LAUNCH(name);
      return;
    }
    // The temporary is freed when this function returns, before the kernels have run: safe,
    // because the allocator hands memory back in stream order and everything runs on one stream.
    Tensor partial = empty({groups, M}, {acc_dtype, device});
    Acc* p = partial.data<Acc>();
    reduce_column_kernel<Op><<<dim3(blocks_x, static_cast<unsigned>(groups)), block, 0, stream>>>(
        x, p, M, R, chunk, kept, reduced);
    EMBER_CUDA_CHECK_LAUNCH(name);
    // Second pass: [groups, M] over groups, same column kernel, one chunk.
    reduce_column_kernel<Op><<<dim3(blocks_x, 1), block, 0, stream>>>(
        static_cast<const Acc*>(p), out, M, groups, groups, line_calc(M, 1), line_calc(groups, M));
    EMBER_CUDA_CHECK_LAUNCH(name);
    return;
  }

  // row plan
  if (R <= kWarpRowMax) {
    const long long warps = kBlockThreads / 32;
    const unsigned blocks = static_cast<unsigned>(ceil_div(M, warps));
    reduce_warp_row_kernel<Op><<<blocks, kBlockThreads, 0, stream>>>(x, out, M, R,
                                                                                  kept, reduced);
    EMBER_CUDA_CHECK_LAUNCH(name);
    return;
  }
  long long groups = std::min(ceil_div(R, kBlockChunkMin), ceil_div(kTargetBlocks, M));
  groups = std::max(1LL, std::min(groups, kMaxGridY));
  const long long chunk = ceil_div(R, groups);
  groups = ceil_div(R, chunk);
  const unsigned blocks_x = static_cast<unsigned>(std::min(M, 1LL << 30));
  if (groups == 1) {
    reduce_block_row_kernel<Op><<<dim3(blocks_x, 1), kBlockThreads, 0, stream>>>(
        x, out, M, R, chunk, kept, reduced);
    EMBER_CUDA_CHECK_LAUNCH(name);
    return;
  }
  // groups > 1 only when M < kTargetBlocks, so the partials are small.
  Tensor partial = empty({groups, M}, {acc_dtype, device});
  Acc* p = partial.data<Acc>();
  reduce_block_row_kernel<Op><<<dim3(blocks_x, static_cast<unsigned>(groups)), kBlockThreads, 0, stream>>>(
      x, p, M, R, chunk, kept, reduced);
  EMBER_CUDA_CHECK_LAUNCH(name);
  // Second pass: output j's partials sit at g * M + j; one warp per output (groups <= 65535).
  reduce_warp_row_kernel<Op><<<static_cast<unsigned>(ceil_div(M, kBlockThreads / 32)),
                               kBlockThreads, 0, stream>>>(
      static_cast<const Acc*>(p), out, M, groups, line_calc(M, 1), line_calc(groups, M));
  EMBER_CUDA_CHECK_LAUNCH(name);
}

// Splits x's axes into kept (out has x's size there) and reduced (out has size 1, x does not).
struct ReductionLayout {
  long long M = 1, R = 1;
  OffsetCalculator<1> kept, reduced;
};

ReductionLayout layout_of(const Tensor& out, const Tensor& x) {
  EMBER_CHECK(out.dim() == x.dim(), "reduction: out ", out.describe(), " must have x's rank, x is ",
              x.describe());
  Shape kept_shape, kept_strides, reduced_shape, reduced_strides;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (out.shape()[d] == 1 && x.shape()[d] != 1) {
      reduced_shape.push_back(x.shape()[d]);
      reduced_strides.push_back(x.strides()[d]);
    } else {
      kept_shape.push_back(x.shape()[d]);
      kept_strides.push_back(x.strides()[d]);
    }
  }
  ReductionLayout layout;
  layout.M = numel_of(kept_shape);
  layout.R = numel_of(reduced_shape);
  // Coalescing keeps the row-major order of each group, so linear index j of `kept` is out's
  // (contiguous) element j.
  layout.kept = make_offset_calculator<1>(kept_shape, {kept_strides});
  layout.reduced = make_offset_calculator<1>(reduced_shape, {reduced_strides});
  return layout;
}

template <template <typename> class Op>
void reduce(const char* name, const Tensor& out, const Tensor& x, double empty_value) {
  EMBER_CHECK(out.is_contiguous(), name, ": out must be contiguous, got ", out.describe());
  if (out.numel() == 0) return;
  if (x.numel() == 0) {  // every output reduces nothing: the identity, as the CPU leaves it
    fill_(out, empty_value);
    return;
  }
  const ReductionLayout layout = layout_of(out, x);
  dispatch_float(x.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    run_reduction<Op<T>>(name, static_cast<const T*>(x.raw_data()), static_cast<T*>(out.raw_data()),
                         layout.M, layout.R, layout.kept, layout.reduced, x.device());
  });
}

// ---- argmax ----
template <typename T>
struct ArgMaxOp {
  // The CPU scans best = x[0]; x[i] > best. NaN never compares greater, so NaN elements are
  // never picked after the first; this combine ignores them (kNoIndex) and breaks ties by the
  // smaller index. The first element being NaN is handled by the caller (the CPU returns 0).
  __device__ __forceinline__ ArgBest<T> operator()(ArgBest<T> a, ArgBest<T> b) const {
    if (a.index == kNoIndex) return b;
    if (b.index == kNoIndex) return a;
    if (b.value > a.value) return b;
    if (a.value > b.value) return a;
    return a.index < b.index ? a : b;
  }
};

// x: n elements at kept(j) + r * step per output; out: [M] int64. A block per output (grid-stride
// over outputs); 32 threads for short rows, kBlockThreads for long ones.
template <typename T>
__global__ void argmax_row_kernel(const T* x, int64_t* out, long long M, long long n, int64_t step,
                                  OffsetCalculator<1> kept) {
  __shared__ ArgBest<T> shared[32];
  const ArgMaxOp<T> op;
  const ArgBest<T> none{T(0), kNoIndex};
  for (long long j = blockIdx.x; j < M; j += gridDim.x) {
    const T* row = x + offset_of(kept, j);
    ArgBest<T> best = none;
    for (long long r = threadIdx.x; r < n; r += blockDim.x) {
      const T v = row[r * step];
      best = op(best, ArgBest<T>{v, isnan(v) ? kNoIndex : r});
    }
    best = block_all_reduce(best, op, none, shared);
    if (threadIdx.x == 0) out[j] = (isnan(row[0]) || best.index == kNoIndex) ? 0 : best.index;
  }
}

// Outputs adjacent in memory (argmax over a leading axis): a thread per output runs the CPU's
// own scan, and neighbouring threads read neighbouring elements.
template <typename T>
__global__ void argmax_column_kernel(const T* x, int64_t* out, long long M, long long n,
                                     int64_t step, OffsetCalculator<1> kept) {
  for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < M;
       j += (long long)gridDim.x * blockDim.x) {
    const T* row = x + offset_of(kept, j);
    long long best = 0;
    T best_v = row[0];
    for (long long i = 1; i < n; ++i) {
      const T v = row[i * step];
      if (v > best_v) { best_v = v; best = i; }
    }
    out[j] = best;
  }
}

}  // namespace

void sum(const Tensor& out, const Tensor& x) { reduce<SumOp>("sum_kernel", out, x, 0.0); }

void amax(const Tensor& out, const Tensor& x) {
  reduce<MaxOp>("amax_kernel", out, x, -std::numeric_limits<double>::infinity());
}

void argmax(const Tensor& out, const Tensor& x, int64_t axis) {
  EMBER_CHECK(out.is_contiguous() && out.dtype() == DType::Int64,
              "argmax: out must be contiguous int64, got ", out.describe());
  const long long M = out.numel();
  if (M == 0) return;
  const long long n = x.shape()[axis];
  EMBER_CHECK(n > 0, "argmax: empty axis ", axis, " in ", x.describe());
  Shape kept_shape = x.shape(), kept_strides = x.strides();
  kept_shape.erase(kept_shape.begin() + axis);
  kept_strides.erase(kept_strides.begin() + axis);
  const OffsetCalculator<1> kept = make_offset_calculator<1>(kept_shape, {kept_strides});
  const int64_t step = x.strides()[axis];
  const bool outputs_adjacent = kept.dims > 0 && kept.strides[0][kept.dims - 1] == 1;
  cudaStream_t stream = ::ember::cuda::compute_stream();
  dispatch_float(x.dtype(), "argmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.raw_data());
    int64_t* po = out.data<int64_t>();
    if (outputs_adjacent && step != 1) {
      argmax_column_kernel<T><<<::ember::cuda::grid_for(M, kBlockThreads), kBlockThreads, 0,
                                stream>>>(px, po, M, n, step, kept);
      EMBER_CUDA_CHECK_LAUNCH("argmax_column_kernel");
      return;
    }
    const int threads = n <= 1024 ? 32 : kBlockThreads;
    const unsigned blocks = static_cast<unsigned>(std::min(M, 1LL << 30));
    argmax_row_kernel<T><<<blocks, threads, 0, stream>>>(px, po, M, n, step, kept);
    EMBER_CUDA_CHECK_LAUNCH("argmax_row_kernel");
  });
}

}  // namespace ember::kernels::cuda
