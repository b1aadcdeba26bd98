// CUDA gather / scatter_add / embedding / embedding_backward (contract: kernels/index.h;
// reference: kernels/cpu/index.cpp). Deterministic without float atomics: each accumulating
// kernel computes one OUTPUT element per thread by scanning, in row-major order, the index
// entries that may land on it, adding in the output's dtype exactly as the CPU does, so the
// results are bit-identical to the CPU's. The cost is a scan of those candidates per output
// (docs/cuda_kernels.md, "Normalisation, indexing, resampling, optimizer updates").
//
// Index range checks: kernels/cuda/range_check.h queues a check kernel that records the first bad
// index (row-major) in the device's error record (tensor/cuda/device_errors.h); the main kernel
// skips bad entries; nothing waits: the CPU's message (less the indexed tensor's shape, plus the
// entry's position) is thrown at the host's next synchronisation. Tested against the CPU in
// tests/test_cuda_index.cpp.
#include <cstdint>

#include "kernels/cuda/offset_calculator.h"
#include "kernels/cuda/range_check.h"
#include "kernels/index.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {

using ::ember::cuda::compute_stream;
using ::ember::cuda::grid_for;

constexpr int kThreads = 256;

OffsetCalculator<1> index_calculator(const Tensor& index) {
  return make_offset_calculator<1>(index.shape(), {index.strides()});
}

// out [index.shape] (contiguous) = x[p with p[axis] = index[p]]. calc walks index's shape:
// operand 0 is index, operand 1 is x with a zero stride on `axis`.
template <typename T>
__global__ void gather_kernel(T* out, const T* x, const int64_t* index, OffsetCalculator<2> calc,
                              int64_t n, int64_t size, int64_t step) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[2];
    calc.offsets(i, off);
    const int64_t v = index[off[0]];
    if (v >= 0 && v < size) out[i] = x[off[1] + v * step];
  }
}

// Shapes and strides for scatter_add, outermost dimension first.
struct ScatterGeometry {
  int rank;
  int axis;
  int64_t out_sizes[kMaxDims];
  int64_t index_sizes[kMaxDims];
  int64_t index_strides[kMaxDims];
  int64_t src_strides[kMaxDims];
};

// One thread per element q of out (contiguous): the entries that can land on q are the index
// positions p with p[d] = q[d] for d != axis, i.e. p[axis] = 0 .. index_sizes[axis] - 1, which is
// also their row-major order. Those with index[p] == q[axis] are added to out[q] in that order.
template <typename T>
__global__ void scatter_add_kernel(T* out, const T* src, const int64_t* index, ScatterGeometry g,
                                   int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    int64_t rest = i, index_off = 0, src_off = 0, target = 0;
    bool covered = true;
    for (int d = g.rank - 1; d >= 0; --d) {
      const int64_t coord = rest % g.out_sizes[d];
      rest /= g.out_sizes[d];
      if (d == g.axis) {
        target = coord;
        continue;
      }
      if (coord >= g.index_sizes[d]) covered = false;  // index does not reach this slice
      index_off += coord * g.index_strides[d];
      src_off += coord * g.src_strides[d];
    }
    if (!covered) continue;
    const int64_t len = g.index_sizes[g.axis];
    const int64_t index_step = g.index_strides[g.axis], src_step = g.src_strides[g.axis];
    T acc = out[i];
    for (int64_t k = 0; k < len; ++k)
      if (index[index_off + k * index_step] == target) acc += src[src_off + k * src_step];
    out[i] = acc;
  }
}

// out [n, D] (contiguous) = weight [V, D] (strides ws0, ws1) at the rows index[r].
template <typename T>
__global__ void embedding_kernel(T* out, const T* weight, const int64_t* index,
                                 OffsetCalculator<1> calc, int64_t total, int64_t D, int64_t V,
                                 int64_t ws0, int64_t ws1) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[1];
    calc.offsets(i / D, off);
    const int64_t v = index[off[0]];
    if (v >= 0 && v < V) out[i] = weight[v * ws0 + (i % D) * ws1];
  }
}

// out [V, D] (contiguous) += the rows of g [n, D] whose index is v, in row order. Block
// (blockIdx.x = v, blockIdx.y = a tile of kThreads columns). The index entries are staged through
// shared memory kThreads at a time: each thread of the tile reads one entry (its value and the
// offset of its row of g, operands 0 and 1 of calc), then every thread scans the tile for v.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    embedding_backward_kernel(T* out, const T* g, const int64_t* index, OffsetCalculator<2> calc,
                              int64_t n, int64_t D, int64_t gs) {
  __shared__ int64_t tile_value[kThreads];
  __shared__ int64_t tile_row[kThreads];
  const int64_t v = blockIdx.x;
  const int64_t d = static_cast<int64_t>(blockIdx.y) * kThreads + threadIdx.x;
  T acc = d < D ? out[v * D + d] : T(0);
  for (int64_t start = 0; start < n; start += kThreads) {
    const int64_t p = start + threadIdx.x;
    if (p < n) {
      int64_t off[2];
      calc.offsets(p, off);
      tile_value[threadIdx.x] = index[off[0]];
      tile_row[threadIdx.x] = off[1];
    }
    __syncthreads();
    const int64_t count = n - start < kThreads ? n - start : kThreads;
    if (d < D)
      for (int64_t q = 0; q < count; ++q)
        if (tile_value[q] == v) acc += g[tile_row[q] + d * gs];
    __syncthreads();  // the tile is overwritten next iteration
  }
  if (d < D) out[v * D + d] = acc;
}

}  // namespace

void gather(const Tensor& out, const Tensor& x, int64_t axis, const Tensor& index) {
  dispatch_float(x.dtype(), "gather", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = index.numel();
    const int64_t size = x.shape()[axis], step = x.strides()[axis];
    check_index_range(index, size, DeviceErrorCode::GatherIndex, axis);
    if (n > 0) {
      Shape x_strides = x.strides();
      x_strides[axis] = 0;  // the position along axis comes from the index
      const OffsetCalculator<2> calc =
          make_offset_calculator<2>(index.shape(), {index.strides(), x_strides});
      gather_kernel<T><<<grid_for(n, kThreads), kThreads, 0, compute_stream()>>>(
          static_cast<T*>(out.raw_data()), static_cast<const T*>(x.raw_data()),
          index.data<int64_t>(), calc, n, size, step);
      EMBER_CUDA_CHECK_LAUNCH("gather_kernel");
    }
  });
}

void scatter_add(const Tensor& out, int64_t axis, const Tensor& index, const Tensor& src) {
  dispatch_float(src.dtype(), "scatter_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t size = out.shape()[axis];
    check_index_range(index, size, DeviceErrorCode::ScatterAddIndex, axis);
    const int64_t n = out.numel();
    if (n > 0 && index.numel() > 0) {
      const int rank = static_cast<int>(out.dim());
      EMBER_CHECK(rank <= kMaxDims, "scatter_add: CUDA handles at most ", kMaxDims,
                  " dimensions, got ", out.describe());
      ScatterGeometry g{};
      g.rank = rank;
      g.axis = static_cast<int>(axis);
      for (int d = 0; d < rank; ++d) {
        g.out_sizes[d] = out.shape()[d];
        g.index_sizes[d] = index.shape()[d];
        g.index_strides[d] = index.strides()[d];
        g.src_strides[d] = src.strides()[d];
      }
      scatter_add_kernel<T><<<grid_for(n, kThreads), kThreads, 0, compute_stream()>>>(
          static_cast<T*>(out.raw_data()), static_cast<const T*>(src.raw_data()),
          index.data<int64_t>(), g, n);
      EMBER_CUDA_CHECK_LAUNCH("scatter_add_kernel");
    }
  });
}

void embedding(const Tensor& out, const Tensor& weight, const Tensor& index) {
  dispatch_float(weight.dtype(), "embedding", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t V = weight.shape()[0], D = weight.shape()[1];
    check_index_range(index, V, DeviceErrorCode::EmbeddingIndex, 0);
    const int64_t total = index.numel() * D;
    if (total > 0) {
      embedding_kernel<T><<<grid_for(total, kThreads), kThreads, 0, compute_stream()>>>(
          static_cast<T*>(out.raw_data()), static_cast<const T*>(weight.raw_data()),
          index.data<int64_t>(), index_calculator(index), total, D, V, weight.strides()[0],
          weight.strides()[1]);
      EMBER_CUDA_CHECK_LAUNCH("embedding_kernel");
    }
  });
}

void embedding_backward(const Tensor& out, const Tensor& g, const Tensor& index) {
  dispatch_float(g.dtype(), "embedding_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t V = out.shape()[0], D = out.shape()[1];
    check_index_range(index, V, DeviceErrorCode::EmbeddingBackwardIndex, 0);
    const int64_t n = index.numel();
    if (n > 0 && V > 0 && D > 0) {
      const int64_t column_tiles = (D + kThreads - 1) / kThreads;
      EMBER_CHECK(column_tiles <= 65535 && V <= 0x7fffffffLL,
                  "embedding_backward: CUDA grid limits exceeded by ", out.describe());
      // g's strides over its leading (index-shaped) axes give the offset of each row.
      const Shape lead(g.strides().begin(), g.strides().begin() + index.dim());
      const OffsetCalculator<2> calc =
          make_offset_calculator<2>(index.shape(), {index.strides(), lead});
      const dim3 grid(static_cast<unsigned>(V), static_cast<unsigned>(column_tiles));
      embedding_backward_kernel<T><<<grid, kThreads, 0, compute_stream()>>>(
          static_cast<T*>(out.raw_data()), static_cast<const T*>(g.raw_data()),
          index.data<int64_t>(), calc, n, D, g.strides().back());
      EMBER_CUDA_CHECK_LAUNCH("embedding_backward_kernel");
    }
  });
}

}  // namespace ember::kernels::cuda
