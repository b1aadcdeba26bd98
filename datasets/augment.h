// Augmentation that is valid for satellite images: the 8 symmetries of the square (4 rotations
// by 90 degrees, each with or without a horizontal flip). A nadir view has no "up", so a rotated
// or mirrored field is still a field of the same class; crops, scales and colour jitter would
// change the ground resolution or the spectral signature and are left out on purpose.
// Each sample's symmetry is drawn from Philox at (seed, epoch, position in the epoch), so the
// result does not depend on threads or on which batch a sample falls in.
// Tested in tests/test_datasets_augment.cpp (each transform exact on a 3x3 image, draws
// reproducible and uniform); the loader applies it (datasets/loader.h).
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace ember::datasets {

// Off by default: the reference EuroSAT recipe the experiment reproduces trains without
// augmentation, so a run only changes its input distribution when it asks to.
struct AugmentOptions {
  bool flips_and_rotations = false;  // each of the 8 symmetries with probability 1/8
};

// Symmetry s in [0, 8): k = s % 4 rotations by 90 degrees counter-clockwise (numpy.rot90) of
// the image, horizontally flipped first (numpy.fliplr) when s >= 4. s = 0 is the identity.
constexpr int kSymmetries = 8;

// The source pixel (sy, sx) that lands on output pixel (y, x) of a square image of side `side`.
inline void symmetry_source(int symmetry, int64_t side, int64_t y, int64_t x, int64_t& sy,
                            int64_t& sx) {
  const int64_t m = side - 1;
  // out = rot90^k(flip^f(in)); rot90(A)[y, x] = A[x, m - y]; fliplr(A)[y, x] = A[y, m - x].
  int64_t a = y, b = x;
  for (int k = 0; k < symmetry % 4; ++k) {
    const int64_t na = b, nb = m - a;
    a = na;
    b = nb;
  }
  if (symmetry >= 4) b = m - b;
  sy = a;
  sx = b;
}

// The symmetry of the sample at `position` of `epoch`'s order: uniform on [0, 8).
int draw_symmetry(uint64_t seed, int64_t epoch, int64_t position);

// Image [S, S, C] (or a batch [N, S, S, C]) of any dtype on the CPU, transformed by `symmetry`
// (the same one for every image of a batch); a new contiguous tensor. Throws for a non-square
// image or a symmetry outside [0, 8).
Tensor apply_symmetry(const Tensor& image, int symmetry);

}  // namespace ember::datasets
