// Emulated kernels/cuda/squeeze_excite.cu against kernels/cpu/squeeze_excite.cpp: forward (y,
// pooled, z1, gate), input gradient (dh, dz2, dz1) and weight gradients. Shapes give channel
// counts below a warp, between a warp and the block, and above the block (threads loop), reduced
// counts below and above the block's 8 warps, one sample and several, and for the weight
// gradients more samples than a tile and more channels than a pass. Both sides sum the same
// stored values in double in different orders, so float64 agrees to ~1e-13 and float32 to an
// ulp or two of the stored floats.
#include "check.h"
#include "kernels/squeeze_excite.h"

using namespace ember;
using namespace ember::kernels;
using namespace emu_check;

namespace {

double rtol_of(DType dt) { return dt == DType::Float32 ? 4e-6 : 1e-11; }
double atol_of(DType dt) { return dt == DType::Float32 ? 1e-6 : 1e-12; }

void se_case(int64_t n, int64_t p, int64_t c, int64_t r, DType dt) {
  const std::string tag = "n" + std::to_string(n) + " p" + std::to_string(p) + " c" +
                          std::to_string(c) + " r" + std::to_string(r) + " " + dt_name(dt);
  const double rt = rtol_of(dt), at = atol_of(dt);
  const Tensor h = rnd({n, p, c}, 21, dt, -2, 2), w1 = rnd({r, c}, 22, dt, -0.4, 0.4),
               b1 = rnd({r}, 23, dt, -0.5, 0.5), w2 = rnd({c, r}, 24, dt, -0.4, 0.4),
               b2 = rnd({c}, 25, dt, -0.5, 0.5);
  Tensor outs[2][4];  // y, pooled, z1, gate
  for (auto& o : outs) {
    o[0] = empty({n, p, c}, {dt});
    o[1] = empty({n, c}, {dt});
    o[2] = empty({n, r}, {dt});
    o[3] = empty({n, c}, {dt});
  }
  cpu::squeeze_excite_forward(outs[0][0], outs[0][1], outs[0][2], outs[0][3], h, w1, b1, w2, b2);
  cuda::squeeze_excite_forward(outs[1][0], outs[1][1], outs[1][2], outs[1][3], h, w1, b1, w2, b2);
  const char* names[] = {"y", "pooled", "z1", "gate"};
  for (int i = 0; i < 4; ++i) cmp(outs[1][i], outs[0][i], rt, at, std::string("se ") + names[i] + " " + tag);

  // Backward from the CPU's saved vectors, so each kernel is compared on the same inputs.
  const Tensor dy = rnd({n, p, c}, 26, dt);
  const Tensor& z1 = outs[0][2];
  const Tensor& gate = outs[0][3];
  Tensor grads[2][3];  // dh, dz2, dz1
  for (auto& g : grads) {
    g[0] = empty({n, p, c}, {dt});
    g[1] = empty({n, c}, {dt});
    g[2] = empty({n, r}, {dt});
  }
  cpu::squeeze_excite_backward_input(grads[0][0], grads[0][1], grads[0][2], dy, h, z1, gate, w1, w2);
  cuda::squeeze_excite_backward_input(grads[1][0], grads[1][1], grads[1][2], dy, h, z1, gate, w1, w2);
  const char* gnames[] = {"dh", "dz2", "dz1"};
  for (int i = 0; i < 3; ++i) cmp(grads[1][i], grads[0][i], rt, at, std::string("se ") + gnames[i] + " " + tag);

  Tensor wg[2][4];  // dw1, db1, dw2, db2
  for (auto& g : wg) {
    g[0] = empty({r, c}, {dt});
    g[1] = empty({r}, {dt});
    g[2] = empty({c, r}, {dt});
    g[3] = empty({c}, {dt});
  }
  const Tensor& dz2 = grads[0][1];
  const Tensor& dz1 = grads[0][2];
  const Tensor& pooled = outs[0][1];
  cpu::squeeze_excite_backward_weights(wg[0][0], wg[0][1], wg[0][2], wg[0][3], dz1, dz2, pooled, z1);
  cuda::squeeze_excite_backward_weights(wg[1][0], wg[1][1], wg[1][2], wg[1][3], dz1, dz2, pooled, z1);
  const char* wnames[] = {"dw1", "db1", "dw2", "db2"};
  for (int i = 0; i < 4; ++i) cmp(wg[1][i], wg[0][i], rt, at, std::string("se ") + wnames[i] + " " + tag);
}

}  // namespace

void check_squeeze_excite() {
  for (DType dt : {DType::Float32, DType::Float64}) {
    se_case(3, 16, 20, 5, dt);    // C below a warp
    se_case(2, 9, 40, 11, dt);    // R above the block's 8 warps
    se_case(1, 4, 300, 12, dt);   // C above the block: threads loop over channels
    // The weight gradients' tiles: more samples than one shared-memory tile of silu values
    // (1024), and more channels than one pass of registers (16 per thread of 256).
    se_case(1030, 1, 9, 2, dt);
    se_case(2, 1, 4100, 2, dt);
  }
}
