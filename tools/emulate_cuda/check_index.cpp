// Emulated kernels/cuda/index.cu against kernels/cpu/index.cpp: gather, scatter_add, embedding,
// embedding_backward on contiguous and strided operands, with duplicate indices (the
// accumulating kernels must add in the CPU's order: results are compared bit for bit), several
// blocks / column tiles / index tiles, and the out-of-range report: deferred (the call does not
// throw; the host's check at its next sync throws the CPU's message for the first bad entry in
// row-major order, and clears the record so a later good call is clean; check.h,
// expect_deferred), also across many blocks with a strided index, and first error wins.
#include <functional>

#include "check.h"
#include "kernels/index.h"

using namespace ember;
using namespace ember::kernels;
using namespace emu_check;

namespace {

// int64 indices in [lo, hi), row-major [shape]; `bad` = {position, value} overrides entries.
Tensor indices(const Shape& shape, int64_t lo, int64_t hi, uint64_t seed,
               const std::vector<std::pair<int64_t, int64_t>>& bad = {}) {
  std::mt19937_64 g(seed);
  std::vector<int64_t> v(numel_of(shape));
  for (auto& x : v) x = lo + static_cast<int64_t>(g() % static_cast<uint64_t>(hi - lo));
  for (auto [p, value] : bad) v[p] = value;
  return from_vector(v, shape, {.dtype = DType::Int64});
}

Tensor reversed(const Tensor& t) {
  std::vector<int64_t> p;
  for (int64_t d = t.dim() - 1; d >= 0; --d) p.push_back(d);
  return t.permute(p);
}

void gather_cases(DType dt) {
  const std::string t = " " + dt_name(dt);
  Tensor x = rnd({7, 9, 5}, 31, dt);
  for (int64_t axis = 0; axis < 3; ++axis) {
    Shape is = {6, 8, 4};
    is[axis] = 11;  // longer than x along axis: duplicates
    Tensor index = indices(is, 0, x.shape()[axis], 32 + axis);
    Tensor o1 = empty(is, {dt}), o2 = empty(is, {dt});
    cpu::gather(o1, x, axis, index);
    cuda::gather(o2, x, axis, index);
    same(o2, o1, "gather axis " + std::to_string(axis) + t);
    // x and index both transposed views.
    Tensor xt = reversed(rnd({5, 9, 7}, 33, dt));  // [7, 9, 5] strided
    Tensor it = reversed(indices({is[2], is[1], is[0]}, 0, x.shape()[axis], 34));
    cpu::gather(o1, xt, axis, it);
    cuda::gather(o2, xt, axis, it);
    same(o2, o1, "gather strided axis " + std::to_string(axis) + t);
  }
  // Out of range: two bad entries, the first in row-major order is reported (the later one is
  // found first by thread order only if the check is not deterministic).
  Tensor good = indices({6, 8, 4}, 0, 9, 36);
  Tensor bad = indices({6, 8, 4}, 0, 9, 35, {{100, 9}, {7, -1}});
  Tensor o = empty({6, 8, 4}, {dt}), o1 = empty({6, 8, 4}, {dt});
  expect_deferred([&] { cpu::gather(o, x, 1, bad); }, [&] { cuda::gather(o, x, 1, bad); }, 7,
                  [&] { cuda::gather(o, x, 1, good); }, "gather out of range" + t);
  cpu::gather(o1, x, 1, good);
  same(o, o1, "gather after a reported error" + t);
  // Many blocks (12000 entries) and a transposed index: the smallest row-major position (the
  // first of three bad entries in row-major order) lies late in memory order, in another block
  // than the entry first in memory.
  Tensor wide = rnd({50, 40}, 37, dt);
  Tensor bt = indices({40, 300}, 0, 50, 38, {{5 * 300 + 290, 50}, {39 * 300 + 1, -7},
                                               {0 * 300 + 200, 99}})
                  .permute({1, 0});  // [300, 40]: entry (r, c) at memory c * 300 + r
  Tensor ob = empty({300, 40}, {dt});
  const int64_t p = first_bad_position(bt, 50);
  expect_deferred([&] { cpu::gather(ob, wide, 0, bt); }, [&] { cuda::gather(ob, wide, 0, bt); },
                  p, [&] { cuda::gather(ob, wide, 0, indices({300, 40}, 0, 50, 39)); },
                  "gather out of range, 12000 strided entries at " + std::to_string(p) + t);
  // Two bad calls before the host looks: the first call's error is the one reported.
  expect_deferred([&] { cpu::gather(o, x, 1, bad); },
                  [&] {
                    cuda::gather(o, x, 1, bad);
                    cuda::gather(ob, wide, 0, bt);
                  },
                  7, [&] { cuda::gather(o, x, 1, good); }, "gather two bad calls: first wins" + t);
}

void scatter_cases(DType dt) {
  const std::string t = " " + dt_name(dt);
  const Shape os = {6, 8, 5};
  for (int64_t axis = 0; axis < 3; ++axis) {
    Shape is = {4, 8, 3};
    is[axis] = 13;  // many hits per output: order matters
    Tensor index = indices(is, 0, os[axis], 41 + axis);
    Tensor src = rnd(is, 42, dt);
    Tensor o1 = zeros(os, {dt}), o2 = zeros(os, {dt});
    cpu::scatter_add(o1, axis, index, src);
    cuda::scatter_add(o2, axis, index, src);
    same(o2, o1, "scatter_add axis " + std::to_string(axis) + t);
    Tensor st = reversed(rnd({is[2], is[1], is[0]}, 43, dt));
    Tensor it = reversed(indices({is[2], is[1], is[0]}, 0, os[axis], 44));
    Tensor p1 = rnd(os, 45, dt), p2 = p1.clone();  // accumulates into existing values
    cpu::scatter_add(p1, axis, it, st);
    cuda::scatter_add(p2, axis, it, st);
    same(p2, p1, "scatter_add strided, non-zero out, axis " + std::to_string(axis) + t);
  }
  // Larger: 2000 outputs, 12000 entries.
  Tensor index = indices({300, 40}, 0, 50, 46);
  Tensor src = rnd({300, 40}, 47, dt);
  Tensor o1 = zeros({50, 40}, {dt}), o2 = zeros({50, 40}, {dt});
  cpu::scatter_add(o1, 0, index, src);
  cuda::scatter_add(o2, 0, index, src);
  same(o2, o1, "scatter_add [300, 40] -> [50, 40]" + t);
  Tensor bad = indices({4, 8, 3}, 0, 5, 48, {{50, 5}, {90, -3}});
  Tensor s = rnd({4, 8, 3}, 49, dt), o = zeros(os, {dt});
  expect_deferred([&] { cpu::scatter_add(o, 2, bad, s); },
                  [&] { cuda::scatter_add(o, 2, bad, s); }, 50,
                  [&] { cuda::scatter_add(o, 2, indices({4, 8, 3}, 0, 5, 50), s); },
                  "scatter_add out of range" + t);
}

void embedding_cases(DType dt) {
  const std::string t = " " + dt_name(dt);
  for (auto [V, D] : std::vector<std::pair<int64_t, int64_t>>{{13, 7}, {11, 300}}) {
    const std::string vd = " V=" + std::to_string(V) + " D=" + std::to_string(D);
    Tensor w = rnd({V, D}, 51, dt), wt = rnd({D, V}, 52, dt).permute({1, 0});
    Tensor index = indices({5, 6}, 0, V, 53), it = indices({6, 5}, 0, V, 54).permute({1, 0});
    Tensor o1 = empty({5, 6, D}, {dt}), o2 = empty({5, 6, D}, {dt});
    cpu::embedding(o1, w, index);
    cuda::embedding(o2, w, index);
    same(o2, o1, "embedding" + vd + t);
    cpu::embedding(o1, wt, it);
    cuda::embedding(o2, wt, it);
    same(o2, o1, "embedding strided weight and index" + vd + t);
    // Backward: 30 entries, then 600 (three tiles of 256 index entries), strided g.
    Tensor g = rnd({5, 6, D}, 55, dt);
    Tensor b1 = zeros({V, D}, {dt}), b2 = zeros({V, D}, {dt});
    cpu::embedding_backward(b1, g, index);
    cuda::embedding_backward(b2, g, index);
    same(b2, b1, "embedding_backward" + vd + t);
    Tensor big = indices({20, 30}, 0, V, 56);
    Tensor gb = rnd({D, 30, 20}, 57, dt).permute({2, 1, 0});  // [20, 30, D] strided
    Tensor c1 = rnd({V, D}, 58, dt), c2 = c1.clone();
    cpu::embedding_backward(c1, gb, big);
    cuda::embedding_backward(c2, gb, big);
    same(c2, c1, "embedding_backward 600 entries strided g" + vd + t);
    Tensor bad = indices({5, 6}, 0, V, 59, {{17, V}, {23, -1}});
    expect_deferred([&] { cpu::embedding(o1, w, bad); }, [&] { cuda::embedding(o2, w, bad); },
                    17, [&] { cuda::embedding(o2, w, index); },
                    "embedding out of range" + vd + t);
    expect_deferred([&] { cpu::embedding_backward(b1, g, bad); },
                    [&] { cuda::embedding_backward(b2, g, bad); }, 17,
                    [&] { cuda::embedding_backward(b2, g, index); },
                    "embedding_backward out of range" + vd + t);
    // A transposed bad index ([5, 6], entry (r, c) at memory c * 5 + r): memory 25 is row-major
    // entry 5, memory 2 is row-major 12, so the first bad entry in memory order is not the one
    // to report.
    Tensor bs = indices({6, 5}, 0, V, 60, {{25, V + 3}, {2, -2}}).permute({1, 0});
    expect_deferred([&] { cpu::embedding(o1, w, bs); }, [&] { cuda::embedding(o2, w, bs); },
                    first_bad_position(bs, V), [&] { cuda::embedding(o2, w, it); },
                    "embedding out of range, strided index" + vd + t);
  }
  // A scalar index.
  Tensor w = rnd({9, 4}, 60, dt);
  Tensor index = from_vector(std::vector<int64_t>{5}, {}, {.dtype = DType::Int64});
  Tensor o1 = empty({4}, {dt}), o2 = empty({4}, {dt});
  cpu::embedding(o1, w, index);
  cuda::embedding(o2, w, index);
  same(o2, o1, "embedding 0-d index" + t);
  Tensor g = rnd({4}, 61, dt), b1 = zeros({9, 4}, {dt}), b2 = zeros({9, 4}, {dt});
  cpu::embedding_backward(b1, g, index);
  cuda::embedding_backward(b2, g, index);
  same(b2, b1, "embedding_backward 0-d index" + t);
}

}  // namespace

void check_index() {
  section("index.cu");
  for (DType dt : {DType::Float32, DType::Float64}) {
    gather_cases(dt);
    scatter_cases(dt);
    embedding_cases(dt);
  }
}
