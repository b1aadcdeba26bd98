// Maps a linear (row-major) element index of an output shape to the element offsets of N
// operands with arbitrary strides (0 on broadcast dimensions). Used by every CUDA kernel that
// walks strided or broadcast tensors; the host builds it, the kernel receives it by value.
//
// The builder coalesces adjacent dimensions that are contiguous with each other in every
// operand (and drops size-1 dimensions), so a contiguous tensor becomes one dimension and the
// per-element division chain stays short. At most kMaxDims dimensions survive coalescing.
//
// This header compiles as plain C++ too (EMBER_HOST_DEVICE is empty there), so the CPU test
// tests/test_offset_calculator.cpp checks the index math without a GPU.
#pragma once
#include <array>
#include <cstdint>

#include "tensor/error.h"
#include "tensor/shape.h"

#ifdef __CUDACC__
#define EMBER_HOST_DEVICE __host__ __device__
#else
#define EMBER_HOST_DEVICE
#endif

namespace ember::kernels::cuda {

constexpr int kMaxDims = 10;

template <int N>
struct OffsetCalculator {
  int dims = 0;                         // after coalescing; 0 means a single element
  int64_t sizes[kMaxDims] = {};         // innermost dimension last
  int64_t strides[N][kMaxDims] = {};    // in elements

  // Offsets (in elements) of linear index i in each operand.
  EMBER_HOST_DEVICE void offsets(int64_t i, int64_t (&out)[N]) const {
    for (int k = 0; k < N; ++k) out[k] = 0;
    for (int d = dims - 1; d >= 0; --d) {
      const int64_t size = sizes[d];
      const int64_t coord = i % size;
      i /= size;
      for (int k = 0; k < N; ++k) out[k] += coord * strides[k][d];
    }
  }
};

// shape: the iteration shape; strides[k]: operand k's strides seen through broadcasting to
// `shape` (kernels::broadcast_strides gives them), same rank as shape.
template <int N>
OffsetCalculator<N> make_offset_calculator(const Shape& shape, const std::array<Shape, N>& strides) {
  // Work innermost-first, merging dimension d into the running (inner) one when, for every
  // operand, stepping once along d equals stepping size(inner) times along the inner one.
  int64_t sizes[64];
  int64_t merged[N][64];
  int count = 0;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    bool can_merge = count > 0;
    for (int k = 0; k < N && can_merge; ++k)
      can_merge = strides[k][d] == merged[k][count - 1] * sizes[count - 1];
    if (can_merge) {
      sizes[count - 1] *= shape[d];
      continue;
    }
    EMBER_CHECK(count < 64, "offset calculator: too many dimensions");
    sizes[count] = shape[d];
    for (int k = 0; k < N; ++k) merged[k][count] = strides[k][d];
    ++count;
  }
  EMBER_CHECK(count <= kMaxDims, "CUDA kernels handle at most ", kMaxDims,
              " non-mergeable dimensions, got ", count, " for shape ", shape_str(shape));
  OffsetCalculator<N> calc;
  calc.dims = count;
  // Stored outermost first: reverse the innermost-first lists.
  for (int j = 0; j < count; ++j) {
    calc.sizes[count - 1 - j] = sizes[j];
    for (int k = 0; k < N; ++k) calc.strides[k][count - 1 - j] = merged[k][j];
  }
  return calc;
}

}  // namespace ember::kernels::cuda
