// Family `conv`: emulated kernels/cuda/depthwise_conv.cu and conv_util.cu through their host
// wrappers (kernels/cuda/conv_cuda.h): depthwise forward / input grad / weight grad against the
// CPU's grouped conv2d (groups = C = K), on the vector (V = 16 / sizeof(T)) and scalar paths (a
// misaligned view forces the scalar one); the pad / crop / layout / bias helpers against plain
// host loops; and the asymmetric-padding translation of kernels/conv_plan.h (cudnn_padding: the
// padded temporary with cuDNN's symmetric pads gives the original forward, and the original
// input and weight gradients once cropped), its pad and crop run by the emulated helpers.
// check_conv_forced.cpp adds the depthwise kernels with launches the wrappers choose only for
// huge problems (64-bit indices, other weight-grad chunkings).
#include "check.h"
#include "kernels/conv.h"
#include "kernels/conv_plan.h"
#include "kernels/cuda/conv_cuda.h"

using namespace ember;
using namespace ember::kernels;
using namespace emu_check;

void check_conv_forced();  // check_conv_forced.cpp

namespace {

struct Case { int64_t N, H, W, C, R, S, sh, sw, pt, pb, pl, pr; };

void depthwise_cases(DType dt) {
  const std::vector<Case> cases = {{2, 7, 7, 12, 3, 3, 1, 1, 1, 1, 1, 1}, {2, 8, 8, 10, 5, 5, 2, 2, 1, 2, 1, 2},
                                   {3, 9, 6, 7, 3, 3, 2, 2, 0, 2, 1, 0}, {2, 5, 5, 200, 3, 3, 2, 2, 1, 1, 1, 1},
                                   {4, 2, 2, 64, 3, 3, 1, 1, 1, 1, 1, 1}, {1, 6, 5, 8, 2, 3, 2, 1, 3, 0, 0, 2},
                                   {5, 17, 13, 4, 5, 5, 3, 2, 2, 2, 2, 2}, {8, 20, 20, 3, 3, 3, 1, 1, 1, 1, 1, 1}};
  const double tol = dt == DType::Float32 ? 2e-5 : 1e-12;
  for (const Case& c : cases) {
    Conv2dGeometry g;
    g.N = c.N, g.H = c.H, g.W = c.W, g.C = c.C, g.K = c.C, g.R = c.R, g.S = c.S, g.groups = c.C;
    g.stride_h = c.sh, g.stride_w = c.sw, g.pad_top = c.pt, g.pad_left = c.pl;
    g.P = (c.H + c.pt + c.pb - c.R) / c.sh + 1, g.Q = (c.W + c.pl + c.pr - c.S) / c.sw + 1;
    const Shape xs = {g.N, g.H, g.W, g.C}, ys = {g.N, g.P, g.Q, g.C}, ws = {g.C, g.R, g.S, 1};
    const std::string tag = " x" + shape_str(xs) + " f" + std::to_string(c.R) + "x" +
                            std::to_string(c.S) + " s" + std::to_string(c.sh) + std::to_string(c.sw) +
                            " " + dt_name(dt);
    Tensor x = rnd(xs, 91, dt), w = rnd(ws, 92, dt), b = rnd({g.C}, 93, dt), dy = rnd(ys, 94, dt);
    Tensor y1 = empty(ys, {dt}), dx1 = empty(xs, {dt}), dw1 = empty(ws, {dt});
    cpu::conv2d_forward(y1, x, w, b, g);
    cpu::conv2d_input_grad(dx1, dy, w, g);
    cpu::conv2d_weight_grad(dw1, x, dy, g);
    for (int64_t shift : {0, 1}) {
      const std::string s = shift ? " misaligned" : "";
      Tensor y2 = shifted(empty(ys, {dt}), shift), dx2 = shifted(empty(xs, {dt}), shift);
      Tensor xv = shifted(x, shift), dyv = shifted(dy, shift);
      cuda::depthwise_forward(y2, xv, w, b, g);
      cmp(y2, y1, tol, tol, "depthwise forward" + s + tag);
      cuda::depthwise_input_grad(dx2, dyv, w, g);
      cmp(dx2, dx1, tol, tol, "depthwise input grad" + s + tag);
    }
    Tensor y3 = empty(ys, {dt});
    cuda::depthwise_forward(y3, x, w, Tensor(), g);
    Tensor y4 = empty(ys, {dt});
    cpu::conv2d_forward(y4, x, w, Tensor(), g);
    cmp(y3, y4, tol, tol, "depthwise forward no bias" + tag);
    Tensor dw2 = empty(ws, {dt});
    cuda::depthwise_weight_grad(dw2, x, dy, g);
    cmp(dw2, dw1, tol, tol * 10, "depthwise weight grad" + tag);
  }
}

void util_cases(DType dt) {
  const std::string t = " " + dt_name(dt);
  const int64_t N = 2, H = 5, W = 7, C = 33;
  Tensor src = rnd({N, H, W, C}, 95, dt);
  const auto sv = src.to_vector<double>();
  auto at = [&](int64_t n, int64_t h, int64_t w, int64_t c) { return sv[((n * H + h) * W + w) * C + c]; };
  // pad into [N, H + 3, W + 1, C] at (2, 1).
  const int64_t Hp = H + 3, Wp = W + 1, oh = 2, ow = 1;
  std::vector<double> want((size_t)(N * Hp * Wp * C), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w)
        for (int64_t c = 0; c < C; ++c) want[((n * Hp + h + oh) * Wp + w + ow) * C + c] = at(n, h, w, c);
  Tensor padded = rnd({N, Hp, Wp, C}, 96, dt);  // garbage that must be overwritten
  cuda::pad_nhwc(padded, src, oh, ow);
  same(padded, from_vector(want, {N, Hp, Wp, C}, {.dtype = dt}), "pad_nhwc" + t);
  // crop back, and a crop that reads past src's edge (zeros there).
  Tensor back = empty({N, H, W, C}, {dt});
  cuda::crop_nhwc(back, padded, oh, ow);
  same(back, src, "crop_nhwc of pad_nhwc" + t);
  Tensor edge = rnd({N, H, W, C}, 97, dt);
  cuda::crop_nhwc(edge, src, 2, 3);  // offsets are >= 0 (conv_plan.h)
  std::vector<double> want2((size_t)(N * H * W * C), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t hs = h + 2, ws = w + 3;
          if (hs >= 0 && hs < H && ws >= 0 && ws < W) want2[((n * H + h) * W + w) * C + c] = at(n, hs, ws, c);
        }
  same(edge, from_vector(want2, {N, H, W, C}, {.dtype = dt}), "crop_nhwc past the edge" + t);
  Tensor nchw = empty({N, C, H, W}, {dt});
  cuda::nhwc_to_nchw(nchw, src);
  same(nchw, src.permute({0, 3, 1, 2}).contiguous(), "nhwc_to_nchw" + t);
  Tensor nhwc = empty({N, H, W, C}, {dt});
  cuda::nchw_to_nhwc(nhwc, nchw);
  same(nhwc, src, "nchw_to_nhwc" + t);
  Tensor bias = rnd({C}, 98, dt);
  Tensor y = src.clone();
  cuda::add_channel_bias(y, bias);
  const auto bv = bias.to_vector<double>();
  std::vector<double> want3 = sv;
  for (size_t i = 0; i < want3.size(); ++i) want3[i] = static_cast<double>(dt == DType::Float32 ? static_cast<double>(static_cast<float>(static_cast<float>(sv[i]) + static_cast<float>(bv[i % C]))) : sv[i] + bv[i % C]);
  same(y, from_vector(want3, {N, H, W, C}, {.dtype = dt}), "add_channel_bias" + t);
}

// cuDNN takes symmetric pads only; conv_plan.h's cudnn_padding pads a temporary explicitly
// where the geometry's pads differ (TF 'same' at stride 2). For any convolution (groups 1, 2,
// C): cuDNN's output size on the padded problem must be P x Q, the CPU forward over the padded
// input (pad_nhwc) with the symmetric pads must equal the original forward, the input gradient
// of the padded problem cropped back (crop_nhwc) must equal the original one, and so must the
// weight gradient. float64, so the sums agree to rounding.
void padding_translation_cases() {
  struct PadCase { int64_t N, H, W, C, K, R, S, sh, sw, pt, pb, pl, pr, groups; };
  const PadCase cases[] = {
      {2, 8, 9, 4, 6, 3, 3, 2, 2, 0, 1, 1, 1, 1},  {2, 9, 10, 3, 5, 5, 5, 2, 2, 2, 2, 1, 2, 1},
      {2, 7, 6, 3, 4, 2, 3, 2, 1, 1, 0, 0, 2, 1},  {1, 5, 5, 3, 2, 3, 3, 1, 1, 2, 2, 2, 2, 1},
      {3, 9, 6, 7, 7, 3, 3, 2, 2, 0, 2, 1, 0, 7},  {1, 6, 6, 4, 4, 3, 3, 1, 1, 0, 2, 3, 0, 2},
      {2, 64, 64, 2, 2, 5, 5, 2, 2, 1, 2, 1, 2, 1}, {1, 4, 4, 2, 2, 1, 1, 1, 1, 3, 0, 0, 3, 1}};
  const DType dt = DType::Float64;
  const double tol = 1e-12;
  for (const PadCase& c : cases) {
    Conv2dGeometry g;
    g.N = c.N, g.H = c.H, g.W = c.W, g.C = c.C, g.K = c.K, g.R = c.R, g.S = c.S;
    g.groups = c.groups, g.stride_h = c.sh, g.stride_w = c.sw, g.pad_top = c.pt,
    g.pad_left = c.pl;
    g.P = (c.H + c.pt + c.pb - c.R) / c.sh + 1, g.Q = (c.W + c.pl + c.pr - c.S) / c.sw + 1;
    const CudnnPadding pad = cudnn_padding(g);
    Conv2dGeometry gp = g;  // what cuDNN sees: Hp x Wp, symmetric pads
    gp.H = pad.Hp, gp.W = pad.Wp, gp.pad_top = pad.pad_h, gp.pad_left = pad.pad_w;
    const std::string tag = " x" + shape_str({g.N, g.H, g.W, g.C}) + " K" + std::to_string(g.K) +
                            " f" + std::to_string(g.R) + "x" + std::to_string(g.S) + " s" +
                            std::to_string(g.stride_h) + std::to_string(g.stride_w) + " pads " +
                            std::to_string(c.pt) + std::to_string(c.pb) + std::to_string(c.pl) +
                            std::to_string(c.pr) + " g" + std::to_string(g.groups) +
                            (pad.needs_temporary() ? " padded" : " symmetric");
    ++emu_check::cases;
    const int64_t Pc = (gp.H + 2 * gp.pad_top - g.R) / g.stride_h + 1;
    const int64_t Qc = (gp.W + 2 * gp.pad_left - g.S) / g.stride_w + 1;
    if (Pc != g.P || Qc != g.Q) {
      std::printf("FAIL %-58s cuDNN's output %ldx%ld, want %ldx%ld\n",
                  ("padding translation output size" + tag).c_str(), (long)Pc, (long)Qc,
                  (long)g.P, (long)g.Q);
      ++failures;
    } else {
      std::printf("ok   %-58s %ldx%ld\n", ("padding translation output size" + tag).c_str(),
                  (long)Pc, (long)Qc);
    }
    const Tensor x = rnd({g.N, g.H, g.W, g.C}, 101, dt);
    const Tensor w = rnd({g.K, g.R, g.S, g.C / g.groups}, 102, dt);
    const Tensor dy = rnd({g.N, g.P, g.Q, g.K}, 103, dt);
    Tensor xp = rnd({g.N, pad.Hp, pad.Wp, g.C}, 104, dt);  // garbage pad_nhwc must overwrite
    cuda::pad_nhwc(xp, x, pad.off_h, pad.off_w);
    Tensor y = empty({g.N, g.P, g.Q, g.K}, {dt}), yp = empty({g.N, g.P, g.Q, g.K}, {dt});
    cpu::conv2d_forward(y, x, w, Tensor(), g);
    cpu::conv2d_forward(yp, xp, w, Tensor(), gp);
    cmp(yp, y, tol, tol, "padding translation forward" + tag);
    Tensor dx = empty(x.shape(), {dt}), dxp = empty(xp.shape(), {dt});
    Tensor dxc = rnd(x.shape(), 105, dt);
    cpu::conv2d_input_grad(dx, dy, w, g);
    cpu::conv2d_input_grad(dxp, dy, w, gp);
    cuda::crop_nhwc(dxc, dxp, pad.off_h, pad.off_w);
    cmp(dxc, dx, tol, tol, "padding translation input grad" + tag);
    Tensor dw = empty(w.shape(), {dt}), dwp = empty(w.shape(), {dt});
    cpu::conv2d_weight_grad(dw, x, dy, g);
    cpu::conv2d_weight_grad(dwp, xp, dy, gp);
    cmp(dwp, dw, tol, tol, "padding translation weight grad" + tag);
    // The layout helpers on this shape too (emulated; exact).
    Tensor nchw = empty({g.N, g.C, g.H, g.W}, {dt}), back = empty(x.shape(), {dt});
    cuda::nhwc_to_nchw(nchw, x);
    same(nchw, x.permute({0, 3, 1, 2}).contiguous(), "nhwc_to_nchw" + tag);
    cuda::nchw_to_nhwc(back, nchw);
    same(back, x, "nchw_to_nhwc round trip" + tag);
  }
}

}  // namespace

void check_conv() {
  section("depthwise_conv.cu");
  for (DType dt : {DType::Float32, DType::Float64}) depthwise_cases(dt);
  section("conv_util.cu");
  for (DType dt : {DType::Float32, DType::Float64}) util_cases(dt);
  section("conv_plan.h padding translation (pad_nhwc / crop_nhwc emulated)");
  padding_translation_cases();
  check_conv_forced();
}
