// Emulated kernels/cuda/norm.cu against kernels/cpu/norm.cpp: batch norm training forward,
// inference, backward and running statistics; layer norm forward and backward. Shapes make the
// two-pass column sums use several chunks and column tiles, and the warp-per-row kernels see
// rows shorter and longer than a warp. Both sides sum in double in different orders, so float64
// agrees to ~1e-13 and float32 to an ulp or two of the stored float. The fused batch norm +
// activation kernels (identity and swish) get the same treatment.
#include "check.h"
#include "kernels/norm.h"

using namespace ember;
using namespace ember::kernels;
using namespace emu_check;

namespace {

double rtol_of(DType dt) { return dt == DType::Float32 ? 2e-6 : 1e-11; }
double atol_of(DType dt) { return dt == DType::Float32 ? 1e-6 : 1e-12; }

// A [C] parameter that is a strided view (every other element of a [2C] tensor), or undefined.
Tensor param(int64_t C, uint64_t seed, DType dt, bool strided, bool defined, double lo = -1,
             double hi = 1) {
  if (!defined) return Tensor();
  if (!strided) return rnd({C}, seed, dt, lo, hi);
  return rnd({2 * C}, seed, dt, lo, hi).slice(0, 0, 2 * C, 2);
}

// The values of a [C] tensor as a stride-2 view.
Tensor spread(const Tensor& t) {
  const auto v = t.to_vector<double>();
  std::vector<double> w(2 * v.size(), -7.0);
  for (size_t i = 0; i < v.size(); ++i) w[2 * i] = v[i];
  const int64_t n = static_cast<int64_t>(w.size());
  return from_vector(w, {n}, {.dtype = t.dtype()}).slice(0, 0, n, 2);
}

void batch_norm_case(const Shape& shape, DType dt, bool affine, bool strided) {
  const int64_t C = shape.back();
  const std::string tag = shape_str(shape) + (affine ? "" : " no affine") +
                          (strided ? " strided params" : "") + " " + dt_name(dt);
  Tensor x = rnd(shape, 11, dt, -2, 3);
  Tensor w = param(C, 12, dt, strided, affine, 0.5, 1.5), b = param(C, 13, dt, strided, affine);
  const double eps = 1e-5;
  Tensor y1 = empty(shape, {dt}), y2 = empty(shape, {dt});
  Tensor m1 = empty({C}, {dt}), m2 = empty({C}, {dt}), v1 = empty({C}, {dt}), v2 = empty({C}, {dt});
  Tensor i1 = empty({C}, {dt}), i2 = empty({C}, {dt});
  cpu::batch_norm_forward_training(y1, m1, v1, i1, x, w, b, eps);
  cuda::batch_norm_forward_training(y2, m2, v2, i2, x, w, b, eps);
  cmp(y2, y1, rtol_of(dt), atol_of(dt), "bn train y " + tag);
  cmp(m2, m1, rtol_of(dt), atol_of(dt), "bn train mean " + tag);
  cmp(v2, v1, rtol_of(dt), atol_of(dt), "bn train var " + tag);
  cmp(i2, i1, rtol_of(dt), atol_of(dt), "bn train invstd " + tag);

  // Inference from running statistics (strided when asked).
  Tensor rm = param(C, 14, dt, strided, true), rv = param(C, 15, dt, strided, true, 0.2, 2);
  cpu::batch_norm_forward_inference(y1, x, w, b, rm, rv, eps);
  cuda::batch_norm_forward_inference(y2, x, w, b, rm, rv, eps);
  cmp(y2, y1, rtol_of(dt), atol_of(dt), "bn inference y " + tag);

  // Backward with the CPU's statistics; strided mean/invstd views when asked.
  Tensor dy = rnd(shape, 16, dt);
  Tensor mean = strided ? spread(m1) : m1, invstd = strided ? spread(i1) : i1;
  for (int which = 0; which < 4; ++which) {  // all, dx only, dweight+dbias only, dbias only
    const bool want_dx = which <= 1, want_dw = which == 0 || which == 2, want_db = which != 1;
    Tensor dx1 = want_dx ? empty(shape, {dt}) : Tensor(), dx2 = want_dx ? empty(shape, {dt}) : Tensor();
    Tensor dw1 = want_dw ? empty({C}, {dt}) : Tensor(), dw2 = want_dw ? empty({C}, {dt}) : Tensor();
    Tensor db1 = want_db ? empty({C}, {dt}) : Tensor(), db2 = want_db ? empty({C}, {dt}) : Tensor();
    cpu::batch_norm_backward(dx1, dw1, db1, dy, x, w, mean, invstd);
    cuda::batch_norm_backward(dx2, dw2, db2, dy, x, w, mean, invstd);
    const std::string sel = std::string(" [") + (want_dx ? "dx " : "") + (want_dw ? "dw " : "") +
                            (want_db ? "db" : "") + "]";
    // dx is a difference of O(n) sums: compare relative to the sums' scale.
    if (want_dx) cmp(dx2, dx1, rtol_of(dt), 50 * atol_of(dt), "bn backward dx " + tag + sel);
    if (want_dw) cmp(dw2, dw1, rtol_of(dt), atol_of(dt) * 10, "bn backward dweight " + tag + sel);
    if (want_db) cmp(db2, db1, rtol_of(dt), atol_of(dt) * 10, "bn backward dbias " + tag + sel);
  }

  // Running statistics, in place on (possibly strided) buffers.
  for (bool unbiased : {false, true}) {
    Tensor rm1 = param(C, 17, dt, strided, true), rv1 = param(C, 18, dt, strided, true, 0.5, 2);
    Tensor rm2 = param(C, 17, dt, strided, true), rv2 = param(C, 18, dt, strided, true, 0.5, 2);
    const int64_t count = x.numel() / C;
    cpu::batch_norm_update_running_stats(rm1, rv1, m1, v1, 0.9, count, unbiased);
    cuda::batch_norm_update_running_stats(rm2, rv2, m1, v1, 0.9, count, unbiased);
    const std::string u = unbiased ? " unbiased " : " biased ";
    cmp(rm2, rm1, 0, 0, "bn running mean" + u + tag);
    cmp(rv2, rv1, 0, 0, "bn running var" + u + tag);
  }
}

// The fused batch norm + activation (batch_norm_act_*): training forward with the running
// update, inference, and the backward with every selection of outputs. Both devices compute z
// and the swish in T on the same per-channel constants; the statistics are double sums in
// different orders (256-row blocks vs chunks), so float32 may differ by an ulp of the stored
// statistics and then of y.
void batch_norm_act_case(const Shape& shape, DType dt, NormActivation act, bool affine,
                         bool strided) {
  const int64_t C = shape.back();
  const std::string tag = shape_str(shape) + (act == NormActivation::Swish ? " swish" : " identity") +
                          (affine ? "" : " no affine") + (strided ? " strided params" : "") + " " +
                          dt_name(dt);
  Tensor x = rnd(shape, 31, dt, -2, 3);
  Tensor w = param(C, 32, dt, strided, affine, 0.5, 1.5), b = param(C, 33, dt, strided, affine);
  const double eps = 1e-3;
  Tensor y1 = empty(shape, {dt}), y2 = empty(shape, {dt});
  Tensor m1 = empty({C}, {dt}), m2 = empty({C}, {dt}), i1 = empty({C}, {dt}), i2 = empty({C}, {dt});
  for (bool unbiased : {false, true}) {
    Tensor rm1 = param(C, 34, dt, strided, true), rv1 = param(C, 35, dt, strided, true, 0.5, 2);
    Tensor rm2 = param(C, 34, dt, strided, true), rv2 = param(C, 35, dt, strided, true, 0.5, 2);
    cpu::batch_norm_act_forward_training(y1, m1, i1, x, w, b, {rm1, rv1, 0.9, unbiased}, eps, act);
    cuda::batch_norm_act_forward_training(y2, m2, i2, x, w, b, {rm2, rv2, 0.9, unbiased}, eps, act);
    const std::string u = unbiased ? " unbiased " : " biased ";
    cmp(y2, y1, rtol_of(dt), atol_of(dt), "bn+act train y" + u + tag);
    cmp(m2, m1, rtol_of(dt), atol_of(dt), "bn+act train mean" + u + tag);
    cmp(i2, i1, rtol_of(dt), atol_of(dt), "bn+act train invstd" + u + tag);
    cmp(rm2, rm1, rtol_of(dt), atol_of(dt), "bn+act running mean" + u + tag);
    cmp(rv2, rv1, rtol_of(dt), atol_of(dt), "bn+act running var" + u + tag);
  }
  // Without running statistics, and without mean/invstd outputs (nothing else changes).
  cuda::batch_norm_act_forward_training(y2, Tensor(), Tensor(), x, w, b, {}, eps, act);
  cmp(y2, y1, rtol_of(dt), atol_of(dt), "bn+act train y, no outputs but y " + tag);

  Tensor rm = param(C, 36, dt, strided, true), rv = param(C, 37, dt, strided, true, 0.2, 2);
  cpu::batch_norm_act_forward_inference(y1, x, w, b, rm, rv, eps, act);
  cuda::batch_norm_act_forward_inference(y2, x, w, b, rm, rv, eps, act);
  cmp(y2, y1, rtol_of(dt), atol_of(dt), "bn+act inference y " + tag);

  // Backward with the CPU's statistics; strided mean/invstd views when asked.
  Tensor dy = rnd(shape, 38, dt);
  Tensor mean = strided ? spread(m1) : m1, invstd = strided ? spread(i1) : i1;
  for (int which = 0; which < 4; ++which) {  // all, dx only, dweight+dbias only, dbias only
    const bool want_dx = which <= 1, want_dw = which == 0 || which == 2, want_db = which != 1;
    Tensor dx1 = want_dx ? empty(shape, {dt}) : Tensor(), dx2 = want_dx ? empty(shape, {dt}) : Tensor();
    Tensor dw1 = want_dw ? empty({C}, {dt}) : Tensor(), dw2 = want_dw ? empty({C}, {dt}) : Tensor();
    Tensor db1 = want_db ? empty({C}, {dt}) : Tensor(), db2 = want_db ? empty({C}, {dt}) : Tensor();
    cpu::batch_norm_act_backward(dx1, dw1, db1, dy, x, w, b, mean, invstd, act);
    cuda::batch_norm_act_backward(dx2, dw2, db2, dy, x, w, b, mean, invstd, act);
    const std::string sel = std::string(" [") + (want_dx ? "dx " : "") + (want_dw ? "dw " : "") +
                            (want_db ? "db" : "") + "]";
    if (want_dx) cmp(dx2, dx1, rtol_of(dt), 50 * atol_of(dt), "bn+act backward dx " + tag + sel);
    if (want_dw) cmp(dw2, dw1, rtol_of(dt), atol_of(dt) * 10, "bn+act backward dweight " + tag + sel);
    if (want_db) cmp(db2, db1, rtol_of(dt), atol_of(dt) * 10, "bn+act backward dbias " + tag + sel);
  }
}

void layer_norm_case(int64_t M, int64_t D, DType dt, bool affine) {
  const std::string tag = "[" + std::to_string(M) + ", " + std::to_string(D) + "]" +
                          (affine ? "" : " no affine") + " " + dt_name(dt);
  Tensor x = rnd({M, D}, 21, dt, -2, 3);
  Tensor w = affine ? rnd({D}, 22, dt, 0.5, 1.5) : Tensor(), b = affine ? rnd({D}, 23, dt) : Tensor();
  Tensor y1 = empty({M, D}, {dt}), y2 = empty({M, D}, {dt});
  Tensor m1 = empty({M}, {dt}), m2 = empty({M}, {dt}), i1 = empty({M}, {dt}), i2 = empty({M}, {dt});
  cpu::layer_norm_forward(y1, m1, i1, x, w, b, 1e-5);
  cuda::layer_norm_forward(y2, m2, i2, x, w, b, 1e-5);
  cmp(y2, y1, rtol_of(dt), atol_of(dt), "ln forward y " + tag);
  cmp(m2, m1, rtol_of(dt), atol_of(dt), "ln forward mean " + tag);
  cmp(i2, i1, rtol_of(dt), atol_of(dt), "ln forward invstd " + tag);
  Tensor dy = rnd({M, D}, 24, dt);
  for (int which = 0; which < 3; ++which) {  // all, dx only, dweight+dbias only
    const bool want_dx = which <= 1, want_p = which != 1;
    Tensor dx1 = want_dx ? empty({M, D}, {dt}) : Tensor(), dx2 = want_dx ? empty({M, D}, {dt}) : Tensor();
    Tensor dw1 = want_p ? empty({D}, {dt}) : Tensor(), dw2 = want_p ? empty({D}, {dt}) : Tensor();
    Tensor db1 = want_p ? empty({D}, {dt}) : Tensor(), db2 = want_p ? empty({D}, {dt}) : Tensor();
    cpu::layer_norm_backward(dx1, dw1, db1, dy, x, w, m1, i1);
    cuda::layer_norm_backward(dx2, dw2, db2, dy, x, w, m1, i1);
    const std::string sel = want_dx && want_p ? " [all]" : want_dx ? " [dx]" : " [dw db]";
    if (want_dx) cmp(dx2, dx1, rtol_of(dt), 10 * atol_of(dt), "ln backward dx " + tag + sel);
    if (want_p) {
      cmp(dw2, dw1, rtol_of(dt), 10 * atol_of(dt), "ln backward dweight " + tag + sel);
      cmp(db2, db1, rtol_of(dt), 10 * atol_of(dt), "ln backward dbias " + tag + sel);
    }
  }
}

}  // namespace

void check_norm() {
  section("norm.cu: batch norm");
  for (DType dt : {DType::Float32, DType::Float64}) {
    // [M, C]: one chunk / one tile; 16 chunks; 3 column tiles with a partial one; NHWC 4-D;
    // 79 chunks of 64 rows; C = 1.
    for (const Shape& s : std::vector<Shape>{{5, 3}, {1000, 3}, {300, 70}, {4, 5, 7, 9}, {5000, 33}, {129, 1}})
      batch_norm_case(s, dt, true, false);
    batch_norm_case({300, 70}, dt, false, false);
    batch_norm_case({1000, 3}, dt, true, true);
  }
  // Over 64 * 1024 rows: chunks of more than kMinChunkRows rows (72 here, 973 chunks).
  batch_norm_case({70000, 2}, DType::Float32, true, false);
  section("norm.cu: batch norm + activation, fused");
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (NormActivation act : {NormActivation::Identity, NormActivation::Swish}) {
      // One chunk; 16 chunks and 3 column tiles with a partial one; NHWC 4-D; C = 1.
      for (const Shape& s : std::vector<Shape>{{5, 3}, {1000, 70}, {4, 5, 7, 9}, {129, 1}})
        batch_norm_act_case(s, dt, act, true, false);
      batch_norm_act_case({300, 33}, dt, act, false, false);
      batch_norm_act_case({300, 33}, dt, act, true, true);
    }
  }
  // Over 64 * 1024 rows: chunks of 72 rows, 973 chunks merged.
  batch_norm_act_case({70000, 2}, DType::Float32, NormActivation::Swish, true, false);
  section("norm.cu: layer norm");
  for (DType dt : {DType::Float32, DType::Float64}) {
    // D below, at and above a warp; M over one block of 8 warps and over several row chunks.
    for (auto [M, D] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {37, 10}, {9, 32}, {300, 37}, {20, 300}, {1000, 7}})
      layer_norm_case(M, D, dt, true);
    layer_norm_case(37, 45, dt, false);
  }
}
