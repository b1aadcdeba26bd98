// Part of family `conv`: the production depthwise kernels (kernels/cuda/depthwise_conv.cu)
// launched directly, with what their host wrappers choose only for problems too large to
// emulate: 64-bit indices (tensors of 2^30 elements and more), weight-gradient chunks of other
// lengths than the wrapper's (5 pixels, so chunks start mid-row; one chunk of every pixel) and
// fewer tap blocks than taps (grid.y < R*S: the tap loop wraps, which the wrapper does only past
// 65535 taps), plus grids of 5 blocks of 64 threads so every grid-stride loop wraps. Results
// against the CPU reference (grouped conv2d, groups == C), float32 and float64.
//
// The kernels sit in an anonymous namespace, reachable only from their own translation unit, so
// this file (itself run through transform.py, so its <<<>>> launches are emulated) includes the
// transformed depthwise_conv.cu, with its three public functions renamed so that they do not
// collide with depthwise_conv.emu.o's.
#define depthwise_forward depthwise_forward_forced_copy
#define depthwise_input_grad depthwise_input_grad_forced_copy
#define depthwise_weight_grad depthwise_weight_grad_forced_copy
#include "depthwise_conv.emu.cpp"
#undef depthwise_forward
#undef depthwise_input_grad
#undef depthwise_weight_grad

#include "check.h"

namespace ember::kernels::cuda {
namespace {

using emu_check::cmp;

struct ForcedCase { int64_t N, H, W, C, R, S, sh, sw, pt, pb, pl, pr; };

// Forward and input grad with V channels per thread and Index arithmetic, on a 5 x 64 grid.
template <typename T, int V, typename Index>
void forward_and_input_grad(const Conv2dGeometry& g, const Tensor& x, const Tensor& wt,
                            const Tensor& b, const Tensor& dy, const Tensor& y_cpu,
                            const Tensor& dx_cpu, double tol, const std::string& tag) {
  const DType dt = x.dtype();
  const std::string what = " V" + std::to_string(V) + (sizeof(Index) == 8 ? " int64" : " int32");
  Tensor y = empty(y_cpu.shape(), {dt}), dx = empty(dx_cpu.shape(), {dt});
  dw_forward_kernel<T, V, Index><<<5, 64>>>(
      y.data<T>(), x.data<T>(), wt.data<T>(), b.data<T>(), shape_of<Index>(g),
      static_cast<Index>(y.numel() / V));
  cmp(y, y_cpu, tol, tol, "forced depthwise forward" + what + tag);
  dw_input_grad_kernel<T, V, Index><<<5, 64>>>(
      dx.data<T>(), dy.data<T>(), wt.data<T>(), shape_of<Index>(g),
      static_cast<Index>(dx.numel() / V));
  cmp(dx, dx_cpu, tol, tol, "forced depthwise input grad" + what + tag);
}

// Weight grad: chunks of `rows` pixels, at most `tap_blocks` blocks along the taps.
template <typename T, typename Index>
void weight_grad(const Conv2dGeometry& g, const Tensor& x, const Tensor& dy, const Tensor& dw_cpu,
                 int64_t rows, int64_t tap_blocks, double tol, const std::string& tag) {
  const DType dt = x.dtype();
  const int64_t npq = g.N * g.P * g.Q, RS = g.R * g.S, chunks = (npq + rows - 1) / rows;
  Tensor partial = empty({chunks, RS, g.C}, {dt}), dw = empty(dw_cpu.shape(), {dt});
  const unsigned block = static_cast<unsigned>(std::min<int64_t>(256, (g.C + 31) / 32 * 32));
  const dim3 grid(static_cast<unsigned>((g.C + block - 1) / block),
                  static_cast<unsigned>(std::min(RS, tap_blocks)), static_cast<unsigned>(chunks));
  dw_weight_grad_partial_kernel<T, Index><<<grid, block>>>(
      partial.data<T>(), x.data<T>(), dy.data<T>(), shape_of<Index>(g),
      static_cast<Index>(rows));
  dw_weight_grad_sum_kernel<T><<<2, 32>>>(dw.data<T>(), partial.data<T>(), chunks, RS, g.C);
  cmp(dw, dw_cpu, tol, tol * 10,
      "forced depthwise weight grad rows " + std::to_string(rows) + " tap blocks " +
          std::to_string(std::min(RS, tap_blocks)) + (sizeof(Index) == 8 ? " int64" : " int32") +
          tag);
}

template <typename T>
void forced_case(const ForcedCase& c, DType dt) {
  Conv2dGeometry g;
  g.N = c.N, g.H = c.H, g.W = c.W, g.C = c.C, g.K = c.C, g.R = c.R, g.S = c.S, g.groups = c.C;
  g.stride_h = c.sh, g.stride_w = c.sw, g.pad_top = c.pt, g.pad_left = c.pl;
  g.P = (c.H + c.pt + c.pb - c.R) / c.sh + 1, g.Q = (c.W + c.pl + c.pr - c.S) / c.sw + 1;
  const Shape xs = {g.N, g.H, g.W, g.C}, ys = {g.N, g.P, g.Q, g.C}, ws = {g.C, g.R, g.S, 1};
  const std::string tag = " x" + shape_str(xs) + " f" + std::to_string(c.R) + "x" +
                          std::to_string(c.S) + " s" + std::to_string(c.sh) +
                          std::to_string(c.sw) + " " + emu_check::dt_name(dt);
  const double tol = dt == DType::Float32 ? 2e-5 : 1e-12;
  const Tensor x = emu_check::rnd(xs, 81, dt), w = emu_check::rnd(ws, 82, dt);
  const Tensor b = emu_check::rnd({g.C}, 83, dt), dy = emu_check::rnd(ys, 84, dt);
  Tensor y_cpu = empty(ys, {dt}), dx_cpu = empty(xs, {dt}), dw_cpu = empty(ws, {dt});
  cpu::conv2d_forward(y_cpu, x, w, b, g);
  cpu::conv2d_input_grad(dx_cpu, dy, w, g);
  cpu::conv2d_weight_grad(dw_cpu, x, dy, g);
  const Tensor wt = transposed_filter(w, g);
  constexpr int kV = 16 / sizeof(T);
  forward_and_input_grad<T, 1, int>(g, x, wt, b, dy, y_cpu, dx_cpu, tol, tag);
  forward_and_input_grad<T, 1, long long>(g, x, wt, b, dy, y_cpu, dx_cpu, tol, tag);
  if (g.C % kV == 0) {  // tensors from empty() are 64-byte aligned
    forward_and_input_grad<T, kV, int>(g, x, wt, b, dy, y_cpu, dx_cpu, tol, tag);
    forward_and_input_grad<T, kV, long long>(g, x, wt, b, dy, y_cpu, dx_cpu, tol, tag);
  }
  const int64_t npq = g.N * g.P * g.Q;
  for (int64_t rows : {int64_t{32}, int64_t{5}, npq}) {
    weight_grad<T, int>(g, x, dy, dw_cpu, rows, 4, tol, tag);
    weight_grad<T, long long>(g, x, dy, dw_cpu, rows, 1, tol, tag);
  }
}

}  // namespace
}  // namespace ember::kernels::cuda

void check_conv_forced() {
  using namespace ember;
  using ember::kernels::cuda::ForcedCase;
  emu_check::section("depthwise_conv.cu kernels with forced launches");
  const ForcedCase cases[] = {{2, 7, 7, 12, 3, 3, 1, 1, 1, 1, 1, 1},
                              {2, 8, 8, 10, 5, 5, 2, 2, 1, 2, 1, 2},
                              {3, 9, 6, 7, 3, 3, 2, 2, 0, 2, 1, 0},
                              {2, 5, 5, 200, 3, 3, 2, 2, 1, 1, 1, 1},
                              {4, 2, 2, 64, 3, 3, 1, 1, 1, 1, 1, 1},
                              {1, 6, 5, 8, 2, 3, 2, 1, 3, 0, 0, 2},
                              {5, 17, 13, 4, 5, 5, 3, 2, 2, 2, 2, 2}};
  for (const ForcedCase& c : cases) {
    ember::kernels::cuda::forced_case<float>(c, DType::Float32);
    ember::kernels::cuda::forced_case<double>(c, DType::Float64);
  }
}
