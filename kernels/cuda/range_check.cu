// The index range check of kernels/cuda/range_check.h. One pass over the index; each thread
// keeps the first bad position of its grid-stride walk (its smallest), a shared-memory tree
// gives the block's smallest, and thread 0 of each block folds that into the device's scratch
// word with atomicMin (integers: the result does not depend on the order). The last block to
// finish (a ticket counter, as in CUDA's threadFenceReduction sample) reads the final minimum,
// records it with the value found there, and puts the scratch words back to rest, so no memset
// is needed per call. Tested through the index ops and cross-entropy on a GPU
// (tests/test_cuda_index.cpp, tests/test_cuda_loss.cpp).
#include "kernels/cuda/offset_calculator.h"
#include "kernels/cuda/range_check.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"
#include "tensor/cuda/device_errors.h"

namespace ember::kernels::cuda {

namespace {

using ::ember::cuda::DeviceErrorSlot;

constexpr int kThreads = 256;  // a power of two: the tree below halves it
constexpr unsigned long long kNone = ~0ULL;

// index: [n] elements reached through calc (row-major position -> offset).
__global__ void __launch_bounds__(kThreads)
    index_range_check_kernel(const int64_t* index, OffsetCalculator<1> calc, int64_t n,
                             int64_t bound, DeviceErrorCode code, int64_t axis,
                             DeviceErrorSlot slot) {
  __shared__ unsigned long long block_first[kThreads];
  unsigned long long first = kNone;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[1];
    calc.offsets(i, off);
    const int64_t v = index[off[0]];
    if (v < 0 || v >= bound) {  // i only grows: this thread's first hit is its smallest
      first = static_cast<unsigned long long>(i);
      break;
    }
  }
  block_first[threadIdx.x] = first;
  __syncthreads();
  for (unsigned half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half)
      block_first[threadIdx.x] = min(block_first[threadIdx.x], block_first[threadIdx.x + half]);
    __syncthreads();
  }
  if (threadIdx.x != 0) return;
  if (block_first[0] != kNone) atomicMin(slot.first_bad, block_first[0]);
  // Our atomicMin must be visible device-wide before the ticket says this block is done.
  __threadfence();
  const unsigned int ticket = atomicAdd(slot.blocks_done, 1u);
  if (ticket != gridDim.x - 1) return;
  // The last block: every other block's atomicMin happened before its ticket, so this read (an
  // atomic, to bypass any stale cache line) sees the final minimum.
  const unsigned long long found = atomicMin(slot.first_bad, kNone);
  *slot.first_bad = kNone;  // back to rest for the next check (the next kernel sees the stores)
  *slot.blocks_done = 0;
  if (found == kNone) return;
  const int64_t position = static_cast<int64_t>(found);
  int64_t off[1];
  calc.offsets(position, off);
  ::ember::cuda::record_device_error(slot, code, index[off[0]], position, bound, axis);
}

}  // namespace

void check_index_range(const Tensor& index, int64_t bound, DeviceErrorCode code, int64_t axis) {
  const int64_t n = index.numel();
  if (n == 0) return;
  const DeviceErrorSlot slot = ::ember::cuda::device_error_slot(index.device().index);
  const OffsetCalculator<1> calc = make_offset_calculator<1>(index.shape(), {index.strides()});
  index_range_check_kernel<<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                             ::ember::cuda::compute_stream()>>>(index.data<int64_t>(), calc, n,
                                                                bound, code, axis, slot);
  EMBER_CUDA_CHECK_LAUNCH("index_range_check_kernel");
}

}  // namespace ember::kernels::cuda
