// Family `depthwise_variants`: every numbered variant of kernels/cuda/dev/
// depthwise_conv_variants.cu (forward, input grad, weight grad) against the CPU reference (the
// grouped conv2d of kernels/cpu/conv.cpp with groups == C == K), and bit for bit against the
// production kernels (kernels/cuda/depthwise_conv.cu): every variant keeps the per-output (r, s)
// summation order, so a difference means a variant indexes wrongly or production drifted from
// the variant it names. Shapes: EfficientNetB2's depthwise layers at 64x64, batch 2 (float32),
// and odd ones in both dtypes: C not a multiple of the vector width, strides 2 and 3, asymmetric
// and one-sided padding, R != S, Q and W not multiples of variant 3's 4-pixel tile, and
// misaligned views (the vector variants' scalar fallback).
#include <map>
#include <set>
#include <tuple>

#include "check.h"
#include "kernels/conv.h"
#include "kernels/cuda/conv_cuda.h"
#include "kernels/cuda/dev/depthwise_conv_variants.h"
#include "models/efficientnet_config.h"

using namespace ember;
using namespace ember::kernels;
using namespace emu_check;

namespace {

struct DwCase {
  std::string name;
  Conv2dGeometry g;
};

Conv2dGeometry geometry(int64_t N, int64_t H, int64_t W, int64_t C, int64_t R, int64_t S,
                        int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  Conv2dGeometry g;
  g.N = N, g.H = H, g.W = W, g.C = C, g.K = C, g.R = R, g.S = S, g.groups = C;
  g.stride_h = sh, g.stride_w = sw, g.pad_top = pt, g.pad_left = pl;
  g.P = (H + pt + pb - R) / sh + 1, g.Q = (W + pl + pr - S) / sw + 1;
  return g;
}

std::string geometry_tag(const Conv2dGeometry& g) {
  return "x" + shape_str({g.N, g.H, g.W, g.C}) + " f" + std::to_string(g.R) + "x" +
         std::to_string(g.S) + " s" + std::to_string(g.stride_h) + std::to_string(g.stride_w) +
         " p" + std::to_string(g.pad_top) + std::to_string(g.pad_left);
}

// EfficientNetB2's distinct depthwise geometries at 64x64 (TF 'same' padding: asymmetric at
// stride 2), batch 2.
std::vector<DwCase> efficientnet_cases() {
  std::vector<DwCase> out;
  std::set<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>> seen;
  for (const models::EfficientNetConv& c :
       models::efficientnet_convs(models::efficientnet_b2_config(), 2, 64, 64)) {
    if (!c.depthwise() || !seen.insert({c.H, c.W, c.C, c.R, c.stride}).second) continue;
    Conv2dGeometry g;
    g.N = c.N, g.H = c.H, g.W = c.W, g.C = c.C, g.K = c.K, g.R = c.R, g.S = c.S;
    g.P = c.P, g.Q = c.Q, g.groups = c.groups;
    g.stride_h = c.params.stride_h, g.stride_w = c.params.stride_w;
    g.pad_top = c.params.pad_top, g.pad_left = c.params.pad_left;
    out.push_back({c.name, g});
  }
  return out;
}

std::vector<DwCase> edge_cases() {
  return {{"C 12 3x3", geometry(2, 7, 7, 12, 3, 3, 1, 1, 1, 1, 1, 1)},
          {"C 10 5x5 s2 asym", geometry(2, 8, 8, 10, 5, 5, 2, 2, 1, 2, 1, 2)},
          {"C 7 one-sided pads", geometry(3, 9, 6, 7, 3, 3, 2, 2, 0, 2, 1, 0)},
          {"C 200 s2", geometry(2, 5, 5, 200, 3, 3, 2, 2, 1, 1, 1, 1)},
          {"2x2 map", geometry(4, 2, 2, 64, 3, 3, 1, 1, 1, 1, 1, 1)},
          {"2x3 filter", geometry(1, 6, 5, 8, 2, 3, 2, 1, 3, 0, 0, 2)},
          {"C 4 strides 3, 2", geometry(5, 17, 13, 4, 5, 5, 3, 2, 2, 2, 2, 2)},
          {"C 3", geometry(8, 20, 20, 3, 3, 3, 1, 1, 1, 1, 1, 1)},
          {"1x1 filter C 6", geometry(2, 5, 9, 6, 1, 1, 1, 2, 0, 0, 0, 0)}};
}

// Variants against the CPU and against production, for one geometry and dtype.
void run_case(const DwCase& dc, DType dt, bool misaligned_too) {
  const Conv2dGeometry& g = dc.g;
  const Shape xs = {g.N, g.H, g.W, g.C}, ys = {g.N, g.P, g.Q, g.C}, ws = {g.C, g.R, g.S, 1};
  const std::string tag = " " + dc.name + " " + geometry_tag(g) + " " + dt_name(dt);
  // Relative to |want|, plus an absolute floor for sums that cancel: float32 sums of up to 25
  // products (forward, input grad) or N*P*Q products (weight grad) of values in [-1, 1].
  const double tol = dt == DType::Float32 ? 2e-5 : 1e-12;
  Tensor x = rnd(xs, 91, dt), w = rnd(ws, 92, dt), b = rnd({g.C}, 93, dt), dy = rnd(ys, 94, dt);
  Tensor y_cpu = empty(ys, {dt}), dx_cpu = empty(xs, {dt}), dw_cpu = empty(ws, {dt});
  cpu::conv2d_forward(y_cpu, x, w, b, g);
  cpu::conv2d_input_grad(dx_cpu, dy, w, g);
  cpu::conv2d_weight_grad(dw_cpu, x, dy, g);
  Tensor y_prod = empty(ys, {dt}), dx_prod = empty(xs, {dt}), dw_prod = empty(ws, {dt});
  cuda::depthwise_forward(y_prod, x, w, b, g);
  cuda::depthwise_input_grad(dx_prod, dy, w, g);
  cuda::depthwise_weight_grad(dw_prod, x, dy, g);
  for (int v = 1; v <= cuda::dev::kDepthwiseVariants; ++v) {
    const std::string name = "variant " + std::to_string(v);
    for (int64_t shift : {0, 1}) {
      if (shift && !misaligned_too) continue;
      const std::string s = shift ? " misaligned" : "";
      Tensor y = shifted(empty(ys, {dt}), shift), dx = shifted(empty(xs, {dt}), shift);
      cuda::dev::depthwise_forward_variant(v, y, shifted(x, shift), w, b, g);
      cmp(y, y_cpu, tol, tol, name + " forward" + s + tag);
      same(y, y_prod, name + " forward = production" + s + tag);
      cuda::dev::depthwise_input_grad_variant(v, dx, shifted(dy, shift), w, g);
      cmp(dx, dx_cpu, tol, tol, name + " input grad" + s + tag);
      same(dx, dx_prod, name + " input grad = production" + s + tag);
    }
    Tensor dw = empty(ws, {dt});
    cuda::dev::depthwise_weight_grad_variant(v, dw, x, dy, g);
    cmp(dw, dw_cpu, tol, tol * 10, name + " weight grad" + tag);
    same(dw, dw_prod, name + " weight grad = production" + tag);
  }
  // Without a bias, once per case (variant 3, whose store loop differs most).
  Tensor y_nb = empty(ys, {dt}), y_nb_cpu = empty(ys, {dt});
  cuda::dev::depthwise_forward_variant(3, y_nb, x, w, Tensor(), g);
  cpu::conv2d_forward(y_nb_cpu, x, w, Tensor(), g);
  cmp(y_nb, y_nb_cpu, tol, tol, "variant 3 forward no bias" + tag);
}

}  // namespace

void check_depthwise_variants() {
  section("depthwise variants: EfficientNetB2 depthwise layers, batch 2");
  for (const DwCase& c : efficientnet_cases()) run_case(c, DType::Float32, false);
  section("depthwise variants: edge shapes");
  for (DType dt : {DType::Float32, DType::Float64})
    for (const DwCase& c : edge_cases()) run_case(c, dt, true);
  expect_error([] { cuda::dev::depthwise_variant_summary(cuda::dev::kDepthwiseVariants + 1); },
               "does not exist", "depthwise variant out of range");
}
