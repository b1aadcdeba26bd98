// Development aid (not built by CMake; run.sh): host emulation of kernels/cuda/conv_util.cu's kernels plus the padding translation
// (kernels/conv_plan.cpp), checked against the CPU reference: a convolution over the padded
// temporary with cuDNN's symmetric pads must equal the original geometry, and the cropped input
// gradient of the padded problem must equal the original input gradient.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>
#include "kernels/conv.h"
#include "kernels/conv_plan.h"
#include "ops/ops.h"
struct Dim3 { unsigned x = 1, y = 1, z = 1; };
Dim3 blockIdx, threadIdx, blockDim, gridDim;
#define __global__
namespace emu {
#include "util_kernels_extracted.inc"
template <class K, class... A> void launch(unsigned g, unsigned b, K k, A... a) {
  gridDim = {g}; blockDim = {b};
  for (unsigned bx = 0; bx < g; ++bx) for (unsigned tx = 0; tx < b; ++tx) { blockIdx = {bx}; threadIdx = {tx}; k(a...); }
}
}  // namespace emu
using namespace ember;
double maxdiff(const Tensor& a, const Tensor& b) {
  auto u = a.to_vector<double>(), v = b.to_vector<double>(); double m = 0;
  for (size_t i = 0; i < v.size(); ++i) m = std::max(m, std::abs(u[i] - v[i]));
  return m;
}
Tensor rnd(const Shape& s, std::mt19937& rng) {
  std::uniform_real_distribution<double> d(-1, 1); std::vector<double> v(numel_of(s));
  for (auto& e : v) e = d(rng);
  return from_vector(v, s, {.dtype = DType::Float64});
}
int main() {
  std::mt19937 rng(5);
  struct Case { int64_t N, H, W, C, K, R, S, sh, sw, pt, pb, pl, pr, groups; };
  std::vector<Case> cases = {{2, 8, 9, 4, 6, 3, 3, 2, 2, 0, 1, 1, 1, 1}, {2, 9, 10, 3, 5, 5, 5, 2, 2, 2, 2, 1, 2, 1},
                             {2, 7, 6, 3, 4, 2, 3, 2, 1, 1, 0, 0, 2, 1}, {1, 5, 5, 3, 2, 3, 3, 1, 1, 2, 2, 2, 2, 1},
                             {3, 9, 6, 7, 7, 3, 3, 2, 2, 0, 2, 1, 0, 7}, {1, 6, 6, 4, 4, 3, 3, 1, 1, 0, 2, 3, 0, 2},
                             {2, 64, 64, 2, 2, 5, 5, 2, 2, 1, 2, 1, 2, 1}, {1, 4, 4, 2, 2, 1, 1, 1, 1, 3, 0, 0, 3, 1}};
  int bad = 0;
  for (const Case& c : cases) {
    kernels::Conv2dGeometry g;
    g.N = c.N, g.H = c.H, g.W = c.W, g.C = c.C, g.K = c.K, g.R = c.R, g.S = c.S, g.groups = c.groups;
    g.stride_h = c.sh, g.stride_w = c.sw, g.pad_top = c.pt, g.pad_left = c.pl;
    g.P = (c.H + c.pt + c.pb - c.R) / c.sh + 1, g.Q = (c.W + c.pl + c.pr - c.S) / c.sw + 1;
    const kernels::CudnnPadding pad = kernels::cudnn_padding(g);
    kernels::Conv2dGeometry gp = g;  // what cuDNN sees: Hp x Wp, symmetric pads
    gp.H = pad.Hp, gp.W = pad.Wp, gp.pad_top = pad.pad_h, gp.pad_left = pad.pad_w;
    // cuDNN's own output size with symmetric pads must be P, Q.
    const int64_t Pc = (gp.H + 2 * gp.pad_top - g.R) / g.stride_h + 1, Qc = (gp.W + 2 * gp.pad_left - g.S) / g.stride_w + 1;
    if (Pc != g.P || Qc != g.Q) { std::printf("output size mismatch\n"); ++bad; }
    Tensor x = rnd({g.N, g.H, g.W, g.C}, rng), w = rnd({g.K, g.R, g.S, g.C / g.groups}, rng), dy = rnd({g.N, g.P, g.Q, g.K}, rng);
    Tensor xp = empty({g.N, pad.Hp, pad.Wp, g.C}, {.dtype = DType::Float64});
    emu::launch(3, 32, emu::pad_kernel<double>, xp.data<double>(), (const double*)x.data<double>(), (long long)xp.numel(), (long long)pad.Hp, (long long)pad.Wp, (long long)g.H, (long long)g.W, (long long)g.C, (long long)pad.off_h, (long long)pad.off_w);
    Tensor y = empty({g.N, g.P, g.Q, g.K}, {.dtype = DType::Float64}), yp = empty({g.N, g.P, g.Q, g.K}, {.dtype = DType::Float64});
    kernels::cpu::conv2d_forward(y, x, w, Tensor(), g);
    kernels::cpu::conv2d_forward(yp, xp, w, Tensor(), gp);
    Tensor dx = empty(x.shape(), {.dtype = DType::Float64}), dxp = empty(xp.shape(), {.dtype = DType::Float64}), dxc = empty(x.shape(), {.dtype = DType::Float64});
    kernels::cpu::conv2d_input_grad(dx, dy, w, g);
    kernels::cpu::conv2d_input_grad(dxp, dy, w, gp);
    emu::launch(3, 32, emu::crop_kernel<double>, dxc.data<double>(), (const double*)dxp.data<double>(), (long long)dxc.numel(), (long long)g.H, (long long)g.W, (long long)pad.Hp, (long long)pad.Wp, (long long)g.C, (long long)pad.off_h, (long long)pad.off_w);
    Tensor dw = empty(w.shape(), {.dtype = DType::Float64}), dwp = empty(w.shape(), {.dtype = DType::Float64});
    kernels::cpu::conv2d_weight_grad(dw, x, dy, g);
    kernels::cpu::conv2d_weight_grad(dwp, xp, dy, gp);
    // Layout round trip NHWC -> NCHW -> NHWC, and NCHW positions.
    Tensor nchw = empty({g.N, g.C, g.H, g.W}, {.dtype = DType::Float64}), back = empty(x.shape(), {.dtype = DType::Float64});
    const long long H = g.H, W = g.W, C = g.C;
    emu::launch(2, 32, emu::permute4_kernel<double>, nchw.data<double>(), (const double*)x.data<double>(), (long long)nchw.numel(), C, H, W, H * W * C, 1LL, W * C, C);
    emu::launch(2, 32, emu::permute4_kernel<double>, back.data<double>(), (const double*)nchw.data<double>(), (long long)back.numel(), H, W, C, C * H * W, W, 1LL, H * W);
    const double e_nchw = maxdiff(nchw, permute(x, {0, 3, 1, 2}).contiguous());
    // bias
    Tensor yb = y.clone(); Tensor bias = rnd({g.K}, rng);
    emu::launch(2, 32, emu::bias_kernel<double>, yb.data<double>(), (const double*)bias.data<double>(), (long long)yb.numel(), (long long)g.K);
    const double e_bias = maxdiff(yb, add(y, bias));
    const double ey = maxdiff(yp, y), ex = maxdiff(dxc, dx), ew = maxdiff(dwp, dw), er = maxdiff(back, x);
    std::printf("H%ld W%ld explicit %d/%d Hp %ld Wp %ld: fwd %.1e dgrad %.1e wgrad %.1e nchw %.1e roundtrip %.1e bias %.1e\n", (long)g.H, (long)g.W, pad.explicit_h, pad.explicit_w, (long)pad.Hp, (long)pad.Wp, ey, ex, ew, e_nchw, er, e_bias);
    bad += ey > 1e-12 || ex > 1e-12 || ew > 1e-12 || e_nchw > 0 || er > 0 || e_bias > 1e-15;
  }
  std::printf(bad ? "FAILURES %d\n" : "all ok\n", bad);
  return bad;
}
