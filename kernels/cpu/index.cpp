// CPU reference for indexing kernels: gather / scatter_add along an axis (PyTorch's
// torch.gather and Tensor.scatter_add_) and embedding lookup / its adjoint (torch's
// F.embedding and its weight gradient). Written to be read. Tested in tests/test_index.cpp.
//
// Determinism: scatter_add walks the index serially in row-major order; embedding_backward
// splits only the columns among threads and adds the rows of each column in index order. Every
// output element therefore sees the same additions in the same order on every run.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/index.h"
#include "tensor/strided_loop.h"

namespace ember::kernels::cpu {

namespace {

void check_index(int64_t i, int64_t size, const char* op, int64_t axis, const Tensor& indexed) {
  EMBER_CHECK(i >= 0 && i < size, op, ": index ", i, " is out of range [0, ", size,
              ") for axis ", axis, " of ", indexed.describe());
}

// The index values in row-major order, each checked against [0, rows) of `table`.
std::vector<int64_t> checked_rows(const Tensor& index, int64_t rows, const char* op,
                                  const Tensor& table) {
  const int64_t* pi = index.data<int64_t>();  // [index.shape], index.strides
  std::vector<int64_t> out;
  out.reserve(index.numel());
  for_each_strided<1>(index.shape(), {index.strides().data()},
                      [&](const std::array<int64_t, 1>& off) {
                        check_index(pi[off[0]], rows, op, 0, table);
                        out.push_back(pi[off[0]]);
                      });
  return out;
}

// Element offsets of the rows g[p, :] for p in index's shape, in row-major order.
std::vector<int64_t> row_offsets(const Tensor& g, const Shape& index_shape) {
  const Shape lead(g.strides().begin(), g.strides().begin() + index_shape.size());
  std::vector<int64_t> out;
  out.reserve(numel_of(index_shape));
  for_each_strided<1>(index_shape, {lead.data()},
                      [&](const std::array<int64_t, 1>& off) { out.push_back(off[0]); });
  return out;
}

}  // namespace

void gather(const Tensor& out, const Tensor& x, int64_t axis, const Tensor& index) {
  dispatch_float(x.dtype(), "gather", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = static_cast<T*>(out.raw_data());             // [index.shape], contiguous
    const T* px = static_cast<const T*>(x.raw_data());  // [x.shape], x.strides
    const int64_t* pi = index.data<int64_t>();          // [index.shape], index.strides
    const int64_t size = x.shape()[axis], step = x.strides()[axis];
    // Walk index's shape; x's position along `axis` comes from the index, not the walk.
    Shape x_strides = x.strides();
    x_strides[axis] = 0;
    for_each_strided<3>(index.shape(), {out.strides().data(), index.strides().data(), x_strides.data()},
                        [&](const std::array<int64_t, 3>& off) {
                          const int64_t i = pi[off[1]];
                          check_index(i, size, "gather", axis, x);
                          o[off[0]] = px[off[2] + i * step];
                        });
  });
}

void scatter_add(const Tensor& out, int64_t axis, const Tensor& index, const Tensor& src) {
  dispatch_float(src.dtype(), "scatter_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = static_cast<T*>(out.raw_data());               // [shape], contiguous, zero-filled
    const T* ps = static_cast<const T*>(src.raw_data());  // [index.shape], src.strides
    const int64_t* pi = index.data<int64_t>();            // [index.shape], index.strides
    const int64_t size = out.shape()[axis], step = out.strides()[axis];
    Shape out_strides = out.strides();
    out_strides[axis] = 0;
    // Serial on purpose: two positions may hit the same output element.
    for_each_strided<3>(index.shape(), {out_strides.data(), index.strides().data(), src.strides().data()},
                        [&](const std::array<int64_t, 3>& off) {
                          const int64_t i = pi[off[1]];
                          check_index(i, size, "scatter_add", axis, out);
                          o[off[0] + i * step] += ps[off[2]];
                        });
  });
}

void embedding(const Tensor& out, const Tensor& weight, const Tensor& index) {
  dispatch_float(weight.dtype(), "embedding", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t V = weight.shape()[0], D = weight.shape()[1];
    const std::vector<int64_t> rows = checked_rows(index, V, "embedding", weight);
    T* o = static_cast<T*>(out.raw_data());                 // [rows, D], contiguous
    const T* pw = static_cast<const T*>(weight.raw_data());  // [V, D], weight.strides
    const int64_t ws0 = weight.strides()[0], ws1 = weight.strides()[1];
    const int64_t n = static_cast<int64_t>(rows.size());
#pragma omp parallel for if (n * D > 32768)
    for (int64_t r = 0; r < n; ++r) {
      const T* src = pw + rows[r] * ws0;
      T* dst = o + r * D;
      for (int64_t d = 0; d < D; ++d) dst[d] = src[d * ws1];
    }
  });
}

void embedding_backward(const Tensor& out, const Tensor& g, const Tensor& index) {
  dispatch_float(g.dtype(), "embedding_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t V = out.shape()[0], D = out.shape()[1];
    const std::vector<int64_t> rows = checked_rows(index, V, "embedding_backward", out);
    const std::vector<int64_t> g_rows = row_offsets(g, index.shape());
    T* o = static_cast<T*>(out.raw_data());             // [V, D], contiguous, zero-filled
    const T* pg = static_cast<const T*>(g.raw_data());  // [index.shape..., D], g.strides
    const int64_t gs = g.strides().back();
    const int64_t n = static_cast<int64_t>(rows.size());
    // Each thread owns a block of columns and adds the rows into it in index order.
    constexpr int64_t kBlock = 64;
    const int64_t blocks = (D + kBlock - 1) / kBlock;
#pragma omp parallel for if (n * D > 32768)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t d0 = b * kBlock, d1 = std::min(D, d0 + kBlock);
      for (int64_t r = 0; r < n; ++r) {
        T* dst = o + rows[r] * D;
        const T* src = pg + g_rows[r];
        for (int64_t d = d0; d < d1; ++d) dst[d] += src[d * gs];
      }
    }
  });
}

}  // namespace ember::kernels::cpu
