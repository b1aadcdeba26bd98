// Development aid (not built by CMake; run.sh): runs the depthwise CUDA kernels' code on the host (sequential emulation of the grid;
// the kernels use no shared memory or barriers) and compares with the CPU reference.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>
#include "kernels/conv.h"
#include "ops/ops.h"
struct Dim3 { unsigned x = 1, y = 1, z = 1; };
Dim3 blockIdx, threadIdx, blockDim, gridDim;
#define __global__
#define __restrict__
namespace emu {
using namespace ember; using namespace ember::kernels;
#include "dw_kernels_extracted.inc"
template <class K, class... A> void launch(Dim3 g, Dim3 b, K k, A... a) {
  gridDim = g; blockDim = b;
  for (unsigned bz = 0; bz < g.z; ++bz) for (unsigned by = 0; by < g.y; ++by) for (unsigned bx = 0; bx < g.x; ++bx)
    for (unsigned tz = 0; tz < b.z; ++tz) for (unsigned ty = 0; ty < b.y; ++ty) for (unsigned tx = 0; tx < b.x; ++tx) {
      blockIdx = {bx, by, bz}; threadIdx = {tx, ty, tz}; k(a...);
    }
}
}  // namespace emu
using namespace ember;
double maxdiff(const std::vector<float>& a, const Tensor& b) {
  auto v = b.to_vector<float>(); double m = 0;
  for (size_t i = 0; i < v.size(); ++i) m = std::max(m, (double)std::abs(a[i] - v[i]));
  return m;
}
int main() {
  std::mt19937 rng(3); std::uniform_real_distribution<float> d(-1, 1);
  struct Case { int64_t N, H, W, C, R, S, sh, sw, pt, pb, pl, pr; };
  std::vector<Case> cases = {{2, 7, 7, 12, 3, 3, 1, 1, 1, 1, 1, 1}, {2, 8, 8, 10, 5, 5, 2, 2, 1, 2, 1, 2},
                             {3, 9, 6, 7, 3, 3, 2, 2, 0, 2, 1, 0}, {2, 5, 5, 200, 3, 3, 2, 2, 1, 1, 1, 1},
                             {4, 2, 2, 64, 3, 3, 1, 1, 1, 1, 1, 1}, {1, 6, 5, 8, 2, 3, 2, 1, 3, 0, 0, 2},
                             {5, 17, 13, 4, 5, 5, 3, 2, 2, 2, 2, 2}};
  int bad = 0;
  for (const Case& c : cases) {
    kernels::Conv2dGeometry g;
    g.N = c.N, g.H = c.H, g.W = c.W, g.C = c.C, g.K = c.C, g.R = c.R, g.S = c.S, g.groups = c.C;
    g.stride_h = c.sh, g.stride_w = c.sw, g.pad_top = c.pt, g.pad_left = c.pl;
    g.P = (c.H + c.pt + c.pb - c.R) / c.sh + 1, g.Q = (c.W + c.pl + c.pr - c.S) / c.sw + 1;
    std::vector<float> x(g.N * g.H * g.W * g.C), w(g.C * g.R * g.S), b(g.C), dy(g.N * g.P * g.Q * g.C);
    for (auto* v : {&x, &w, &b, &dy}) for (auto& e : *v) e = d(rng);
    Tensor tx = from_vector(x, {g.N, g.H, g.W, g.C}), tw = from_vector(w, {g.C, g.R, g.S, 1}),
           tb = from_vector(b, {g.C}), tdy = from_vector(dy, {g.N, g.P, g.Q, g.C});
    Tensor ry = empty({g.N, g.P, g.Q, g.C}), rdx = empty({g.N, g.H, g.W, g.C}), rdw = empty({g.C, g.R, g.S, 1});
    kernels::cpu::conv2d_forward(ry, tx, tw, tb, g);
    kernels::cpu::conv2d_input_grad(rdx, tdy, tw, g);
    kernels::cpu::conv2d_weight_grad(rdw, tx, tdy, g);
    std::vector<float> wt(g.R * g.S * g.C);
    emu::launch({3}, {32}, emu::transpose_filter_kernel<float>, wt.data(), (const float*)w.data(), (long long)g.C, (long long)(g.R * g.S));
    for (int vec = 0; vec < 2; ++vec) {
      if (vec && g.C % 4) continue;
      const int V = vec ? 4 : 1;
      std::vector<float> y(dy.size()), dx(x.size());
      int packs_y = y.size() / V, packs_x = x.size() / V;
      if (vec) {
        emu::launch({5}, {64}, emu::dw_forward_kernel<float, 4, int>, y.data(), (const float*)x.data(), (const float*)wt.data(), (const float*)b.data(), emu::shape_of<int>(g), packs_y);
        emu::launch({5}, {64}, emu::dw_input_grad_kernel<float, 4, long long>, dx.data(), (const float*)dy.data(), (const float*)wt.data(), emu::shape_of<long long>(g), (long long)packs_x);
      } else {
        emu::launch({5}, {64}, emu::dw_forward_kernel<float, 1, long long>, y.data(), (const float*)x.data(), (const float*)wt.data(), (const float*)b.data(), emu::shape_of<long long>(g), (long long)packs_y);
        emu::launch({5}, {64}, emu::dw_input_grad_kernel<float, 1, int>, dx.data(), (const float*)dy.data(), (const float*)wt.data(), emu::shape_of<int>(g), packs_x);
      }
      double ey = maxdiff(y, ry), ex = maxdiff(dx, rdx);
      std::printf("C=%ld V=%d fwd %.2e dgrad %.2e\n", (long)g.C, V, ey, ex);
      bad += ey > 1e-5 || ex > 1e-5;
    }
    // weight grad: same chunking as the host launcher
    const int64_t npq = g.N * g.P * g.Q, RS = g.R * g.S;
    for (int64_t forced_rows : {int64_t(32), int64_t(5), npq}) {
      const int64_t rows = forced_rows, chunks = (npq + rows - 1) / rows;
      std::vector<float> partial(chunks * RS * g.C), dw(g.C * RS);
      const int block = std::min<int64_t>(256, (g.C + 31) / 32 * 32);
      emu::launch({(unsigned)((g.C + block - 1) / block), (unsigned)std::min<int64_t>(RS, 4), (unsigned)chunks}, {(unsigned)block},
                  emu::dw_weight_grad_partial_kernel<float, int>, partial.data(), (const float*)x.data(), (const float*)dy.data(), emu::shape_of<int>(g), (int)rows);
      emu::launch({2}, {32}, emu::dw_weight_grad_sum_kernel<float>, dw.data(), (const float*)partial.data(), (long long)chunks, (long long)RS, (long long)g.C);
      double ew = maxdiff(dw, rdw);
      std::printf("C=%ld rows=%ld wgrad %.2e\n", (long)g.C, (long)rows, ew);
      bad += ew > 1e-4;
    }
  }
  std::printf(bad ? "FAILURES %d\n" : "all ok\n", bad);
  return bad;
}
