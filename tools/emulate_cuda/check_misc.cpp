// Emulated kernels/cuda/pool.cu, optim.cu and random.cu against kernels/cpu/{pool,optim,
// random}.cpp. Resampling and optimizer updates must be bit-identical (same double formulas;
// see the README on fma contraction, which g++ does not do here); the Philox kernels run the
// host branch of tensor/philox.h, so this checks their indexing and launch, not CUDA's math.
#include "check.h"
#include "kernels/optim.h"
#include "kernels/pool.h"
#include "kernels/random.h"

using namespace ember;
using namespace ember::kernels;
using namespace emu_check;

namespace {

void pool_cases(DType dt) {
  const std::string t = " " + dt_name(dt);
  struct Case { Shape x; int64_t fh, fw; };
  for (const Case& c : {Case{{2, 3, 5, 7}, 2, 3}, Case{{3, 8, 6, 33}, 4, 2}, Case{{1, 1, 1, 1}, 1, 1},
                        Case{{2, 6, 4, 3}, 3, 1}}) {
    const Shape& s = c.x;
    const std::string tag = " " + shape_str(s) + " f=" + std::to_string(c.fh) + "x" +
                            std::to_string(c.fw) + t;
    Tensor x = rnd(s, 71, dt);
    const Shape up = {s[0], s[1] * c.fh, s[2] * c.fw, s[3]};
    Tensor u1 = empty(up, {dt}), u2 = empty(up, {dt});
    cpu::upsample_nearest(u1, x, c.fh, c.fw);
    cuda::upsample_nearest(u2, x, c.fh, c.fw);
    same(u2, u1, "upsample_nearest" + tag);
    // Strided x: an NCHW tensor seen as NHWC.
    Tensor xs = rnd({s[0], s[3], s[1], s[2]}, 72, dt).permute({0, 2, 3, 1});
    cpu::upsample_nearest(u1, xs, c.fh, c.fw);
    cuda::upsample_nearest(u2, xs, c.fh, c.fw);
    same(u2, u1, "upsample_nearest strided x" + tag);
    // downsample_sum of the upsampled-size input back to s.
    Tensor big = rnd(up, 73, dt);
    Tensor d1 = empty(s, {dt}), d2 = empty(s, {dt});
    cpu::downsample_sum(d1, big, c.fh, c.fw);
    cuda::downsample_sum(d2, big, c.fh, c.fw);
    same(d2, d1, "downsample_sum" + tag);
    Tensor bigs = rnd({up[0], up[3], up[1], up[2]}, 74, dt).permute({0, 2, 3, 1});
    cpu::downsample_sum(d1, bigs, c.fh, c.fw);
    cuda::downsample_sum(d2, bigs, c.fh, c.fw);
    same(d2, d1, "downsample_sum strided x" + tag);
  }
}

void optim_cases(DType dt) {
  const std::string t = " " + dt_name(dt);
  const Shape s = {37, 29};  // 1073 elements: 5 blocks of 256
  Tensor g = rnd(s, 81, dt);
  struct Sgd { double momentum, dampening, wd; bool nesterov, first; };
  for (const Sgd& k : {Sgd{0, 0, 0, false, false}, Sgd{0.9, 0, 1e-2, false, true},
                       Sgd{0.9, 0.1, 1e-2, false, false}, Sgd{0.8, 0, 0, true, false}}) {
    Tensor p1 = rnd(s, 82, dt), p2 = p1.clone();
    Tensor b1 = rnd(s, 83, dt), b2 = b1.clone();
    cpu::sgd_step(p1, g, k.momentum != 0 ? b1 : Tensor(), 0.05, k.momentum, k.dampening, k.wd,
                  k.nesterov, k.first);
    cuda::sgd_step(p2, g, k.momentum != 0 ? b2 : Tensor(), 0.05, k.momentum, k.dampening, k.wd,
                   k.nesterov, k.first);
    const std::string tag = " m=" + std::to_string(k.momentum) + (k.nesterov ? " nesterov" : "") +
                            (k.first ? " first" : "") + t;
    same(p2, p1, "sgd param" + tag);
    if (k.momentum != 0) same(b2, b1, "sgd buffer" + tag);
  }
  for (bool decoupled : {false, true})
    for (int64_t step : {1, 7}) {
      Tensor p1 = rnd(s, 84, dt), p2 = p1.clone();
      Tensor m1 = rnd(s, 85, dt, -0.1, 0.1), m2 = m1.clone();
      Tensor v1 = rnd(s, 86, dt, 0, 0.01), v2 = v1.clone();
      cpu::adam_step(p1, g, m1, v1, 1e-3, 0.9, 0.999, 1e-8, 1e-2, decoupled, step);
      cuda::adam_step(p2, g, m2, v2, 1e-3, 0.9, 0.999, 1e-8, 1e-2, decoupled, step);
      const std::string tag = std::string(decoupled ? " adamw" : " adam") + " step " +
                              std::to_string(step) + t;
      same(p2, p1, "adam param" + tag);
      same(m2, m1, "adam exp_avg" + tag);
      same(v2, v1, "adam exp_avg_sq" + tag);
    }
}

void random_cases() {
  for (int64_t n : {1, 1000, 4099}) {
    const std::string tag = " n=" + std::to_string(n);
    for (DType dt : {DType::Float32, DType::Float64}) {
      Tensor a = empty({n}, {dt}), b = empty({n}, {dt});
      cpu::fill_uniform(a, 1234, 77, -2, 3);
      cuda::fill_uniform(b, 1234, 77, -2, 3);
      same(b, a, "fill_uniform" + tag + " " + dt_name(dt));
      cpu::fill_normal(a, 99, (1ULL << 32) - 5, 0.5, 2);  // counter crosses 2^32
      cuda::fill_normal(b, 99, (1ULL << 32) - 5, 0.5, 2);
      same(b, a, "fill_normal" + tag + " " + dt_name(dt));
    }
    for (DType dt : {DType::Float32, DType::Float64, DType::UInt8}) {
      Tensor a = empty({n}, {dt}), b = empty({n}, {dt});
      cpu::fill_bernoulli(a, 5, 3, 0.3);
      cuda::fill_bernoulli(b, 5, 3, 0.3);
      same(b, a, "fill_bernoulli" + tag + " " + dt_name(dt));
    }
    Tensor k1 = empty({n}, {DType::Int64}), k2 = empty({n}, {DType::Int64});
    cpu::random_keys(k1, 8, 12);
    cuda::random_keys(k2, 8, 12);
    same(k2, k1, "random_keys" + tag);
    // CUB is replaced by a host stable sort (shim/cub): this checks the wrapper's arguments.
    Tensor keys = from_vector(std::vector<int64_t>(n, 0), {n}, {.dtype = DType::Int64});
    for (Tensor kk : {k1, keys}) {  // random keys; all equal (stability)
      Tensor p1 = empty({n}, {DType::Int64}), p2 = empty({n}, {DType::Int64});
      cpu::permutation_from_keys(p1, kk);
      cuda::permutation_from_keys(p2, kk);
      same(p2, p1, "permutation_from_keys (host sort)" + tag);
    }
  }
}

}  // namespace

void check_pool_optim_random() {
  section("pool.cu");
  for (DType dt : {DType::Float32, DType::Float64}) pool_cases(dt);
  section("optim.cu");
  for (DType dt : {DType::Float32, DType::Float64}) optim_cases(dt);
  section("random.cu");
  random_cases();
}
