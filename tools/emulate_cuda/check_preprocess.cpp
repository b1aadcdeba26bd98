// Emulated kernels/cuda/preprocess.cu against kernels/cpu/preprocess.cpp: the fused Rescaling +
// Normalization from uint8 and from float pixels, with and without statistics and offset, for
// 1, 3 and 4 channels and sizes that leave a partial block. Both sides run the formula of
// kernels/preprocess_math.h with the same per-step rounding, so they must agree bit for bit.
#include <vector>

#include "check.h"
#include "kernels/preprocess.h"

using namespace ember;
using namespace ember::kernels;
using namespace emu_check;

namespace {

// Pixels 0..255 of shape [n, c] as uint8 (all values appear when n * c >= 256).
Tensor pixels(int64_t n, int64_t c) {
  std::vector<uint8_t> v(static_cast<size_t>(n * c));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>((i * 37 + i / 7) % 256);
  return from_vector(v, {n, c}, {.dtype = DType::UInt8});
}

void preprocess_case(int64_t n, int64_t c, DType dt, bool stats, double offset, bool from_float) {
  const std::string tag = "n" + std::to_string(n) + " c" + std::to_string(c) + " " +
                          dt_name(dt) + (stats ? " stats" : "") +
                          (offset != 0 ? " offset" : "") + (from_float ? " float in" : " uint8 in");
  Tensor x = pixels(n, c);
  if (from_float) x = x.to(dt);
  Tensor mean, variance;
  if (stats) {
    mean = rnd({c}, 31, dt, 0.3, 0.6);
    variance = rnd({c}, 32, dt, 0.0, 0.1);  // near 0 too: the epsilon clamp
  }
  Tensor outs[2] = {empty({n, c}, {dt}), empty({n, c}, {dt})};
  cpu::rescale_normalize(outs[0], x, 1.0 / 255.0, offset, mean, variance, 1e-7);
  cuda::rescale_normalize(outs[1], x, 1.0 / 255.0, offset, mean, variance, 1e-7);
  same(outs[1], outs[0], "rescale_normalize " + tag);
}

}  // namespace

void check_preprocess() {
  for (DType dt : {DType::Float32, DType::Float64})
    for (bool from_float : {false, true}) {
      preprocess_case(1000, 3, dt, true, 0.0, from_float);   // partial last block
      preprocess_case(77, 4, dt, true, -1.0, from_float);
      preprocess_case(300, 1, dt, false, -1.0, from_float);  // the GAN's [-1, 1] mapping
      preprocess_case(64, 3, dt, false, 0.0, from_float);
    }
}
