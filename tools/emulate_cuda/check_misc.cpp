// Emulated kernels/cuda/pool.cu, optim.cu and random.cu against kernels/cpu/{pool,optim,
// random}.cpp. Resampling and optimizer updates must be bit-identical (same double formulas;
// see the README on fma contraction, which g++ does not do here); the Philox kernels run the
// host branch of tensor/philox.h, so this checks their indexing and launch, not CUDA's math.
// The multi-tensor optimizer kernels (ListArgs blocks of (tensor, chunk) pairs) run on lists with
// empty, odd and multi-chunk tensors and more tensors than one argument block holds, and one list
// over more chunks than one block's table (the table flushed inside a tensor): each against the
// CPU's multi-tensor function and, for Adam and SGD, against the emulated per-tensor kernel.
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


using TensorList = std::vector<Tensor>;

TensorList rnd_list(const std::vector<int64_t>& sizes, uint64_t seed, DType dt, double lo,
                    double hi) {
  TensorList out;
  for (size_t i = 0; i < sizes.size(); ++i) out.push_back(rnd({sizes[i]}, seed + 31 * i, dt, lo, hi));
  return out;
}

TensorList clone_list(const TensorList& l) {
  TensorList out;
  for (const Tensor& t : l) out.push_back(t.clone());
  return out;
}

void same_list(const TensorList& got, const TensorList& want, const std::string& what) {
  for (size_t i = 0; i < got.size(); ++i) same(got[i], want[i], what + " #" + std::to_string(i));
}

Tensor f64(std::vector<double> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return from_vector(v, {n}, {.dtype = DType::Float64});
}

// Empty, one, odd, over one and over two chunks, then many small tensors (two argument blocks).
std::vector<int64_t> multi_sizes() {
  std::vector<int64_t> sizes = {0, 1, 1073, kListChunk + 3, 2 * kListChunk + 1};
  for (int i = 0; i < kListTensors + 5; ++i) sizes.push_back(1 + (i * 37) % 300);
  return sizes;
}

void optim_multi_cases(DType dt) {
  const std::string t = " " + dt_name(dt);
  const std::vector<int64_t> sizes = multi_sizes();
  const size_t n = sizes.size();
  const TensorList g = rnd_list(sizes, 91, dt, -1, 1);
  for (bool decoupled : {false, true}) {
    const TensorList p_ref = rnd_list(sizes, 92, dt, -1, 1), p1 = clone_list(p_ref),
                     p2 = clone_list(p_ref);
    const TensorList m_ref = rnd_list(sizes, 93, dt, -0.1, 0.1), m1 = clone_list(m_ref),
                     m2 = clone_list(m_ref);
    const TensorList v_ref = rnd_list(sizes, 94, dt, 0, 0.01), v1 = clone_list(v_ref),
                     v2 = clone_list(v_ref);
    std::vector<double> sv = {1e-3};
    std::vector<int64_t> slots;
    for (size_t i = 0; i < n; ++i) {
      sv.push_back(static_cast<double>(i % 4));  // steps so far differ per tensor
      slots.push_back(static_cast<int64_t>(1 + i));
    }
    const Tensor s1 = f64(sv), s2 = f64(sv);
    cpu::adam_step_multi(p1, g, m1, v1, s1, slots, 0.9, 0.999, 1e-8, 1e-2, decoupled);
    cuda::adam_step_multi(p2, g, m2, v2, s2, slots, 0.9, 0.999, 1e-8, 1e-2, decoupled);
    for (size_t i = 0; i < n; ++i)  // the emulated per-tensor kernel, one tensor at a time
      if (sizes[i] > 0)
        cuda::adam_step(p_ref[i], g[i], m_ref[i], v_ref[i], 1e-3, 0.9, 0.999, 1e-8, 1e-2,
                        decoupled, static_cast<int64_t>(i % 4) + 1);
    const std::string tag = std::string(decoupled ? " adamw" : " adam") + t;
    same_list(p2, p1, "adam_multi param" + tag);
    same_list(m2, m1, "adam_multi exp_avg" + tag);
    same_list(v2, v1, "adam_multi exp_avg_sq" + tag);
    same(s2, s1, "adam_multi step counts" + tag);
    same_list(p2, p_ref, "adam_multi param vs per-tensor" + tag);
  }
  for (double momentum : {0.0, 0.9})
    for (bool nesterov : {false, true}) {
      if (nesterov && momentum == 0.0) continue;
      const TensorList p_ref = rnd_list(sizes, 95, dt, -1, 1), p1 = clone_list(p_ref),
                       p2 = clone_list(p_ref);
      const TensorList b_ref = rnd_list(sizes, 96, dt, -1, 1), b1 = clone_list(b_ref),
                       b2 = clone_list(b_ref);
      std::vector<uint8_t> first(n);
      for (size_t i = 0; i < n; ++i) first[i] = i % 2;
      const TensorList none;
      cpu::sgd_step_multi(p1, g, momentum != 0 ? b1 : none, first, f64({0.05}), momentum, 0.0,
                          1e-2, nesterov);
      cuda::sgd_step_multi(p2, g, momentum != 0 ? b2 : none, first, f64({0.05}), momentum, 0.0,
                           1e-2, nesterov);
      for (size_t i = 0; i < n; ++i)
        if (sizes[i] > 0)
          cuda::sgd_step(p_ref[i], g[i], momentum != 0 ? b_ref[i] : Tensor(), 0.05, momentum, 0.0,
                         1e-2, nesterov, first[i] != 0);
      const std::string tag = " m=" + std::to_string(momentum) + (nesterov ? " nesterov" : "") + t;
      same_list(p2, p1, "sgd_multi param" + tag);
      if (momentum != 0) same_list(b2, b1, "sgd_multi buffer" + tag);
      same_list(p2, p_ref, "sgd_multi param vs per-tensor" + tag);
    }
  for (bool warmup : {false, true}) {
    const TensorList s_ref = rnd_list(sizes, 97, dt, -1, 1), s1 = clone_list(s_ref),
                     s2 = clone_list(s_ref);
    const Tensor c1 = f64({7.0}), c2 = f64({7.0});
    cpu::ema_update_multi(s1, g, c1, 0, 0.99, warmup, true);
    cuda::ema_update_multi(s2, g, c2, 0, 0.99, warmup, true);
    const std::string tag = std::string(warmup ? " warm-up" : "") + t;
    same_list(s2, s1, "ema_multi shadow" + tag);
    same(c2, c1, "ema_multi count" + tag);
  }
  // Sums of squares and the clip: not bit-identical (the GPU adds each chunk in a tree, the CPU
  // element by element, both in double), so within a few double roundings of the sum.
  std::vector<int64_t> positions;
  for (size_t i = 0; i < n; ++i) positions.push_back(static_cast<int64_t>(n - 1 - i));
  const Tensor q1 = f64(std::vector<double>(n, -1.0)), q2 = f64(std::vector<double>(n, -1.0));
  cpu::sum_squares_multi(g, q1, positions);
  cuda::sum_squares_multi(g, q2, positions);
  const double rtol = dt == DType::Float64 ? 1e-13 : 2.5e-7;  // float32: one rounding
  cmp(q2, q1, rtol, 0, "sum_squares_multi" + t);
  for (double max_norm : {0.5, 1e9}) {
    const Tensor r1 = f64({0, 0}), r2 = f64({0, 0});
    cpu::clip_coefficient(q1, r1, max_norm, false);
    cuda::clip_coefficient(q1, r2, max_norm, false);  // the same sums: bit-identical
    same(r2, r1, "clip_coefficient max_norm " + std::to_string(max_norm) + t);
    const TensorList h1 = clone_list(g), h2 = clone_list(g);
    cpu::scale_by_clip_coefficient_multi(h1, r1);
    cuda::scale_by_clip_coefficient_multi(h2, r1);
    same_list(h2, h1, "scale_by_clip_coefficient_multi max_norm " + std::to_string(max_norm) + t);
  }
  // A NaN sum (cmp matches NaN with NaN): kept (coefficient 1) or propagated (NaN).
  for (bool keep : {true, false}) {
    const Tensor nan_sums = f64({1.0, NAN}), r1 = f64({0, 0}), r2 = f64({0, 0});
    cpu::clip_coefficient(nan_sums, r1, 1.0, keep);
    cuda::clip_coefficient(nan_sums, r2, 1.0, keep);
    same(r2, r1, std::string("clip_coefficient NaN ") + (keep ? "kept" : "propagated") + t);
  }
}

// More chunks than one argument block's table: the launch table is flushed inside a tensor, so
// the second launch's partial sums must land after the first's. float32 only (it is large).
void optim_multi_long_list() {
  const std::vector<int64_t> sizes = {5, kListChunk * kListBlocks + 7, 3};
  const TensorList g = rnd_list(sizes, 98, DType::Float32, -1, 1);
  const Tensor q1 = f64({0, 0, 0}), q2 = f64({0, 0, 0});
  cpu::sum_squares_multi(g, q1, {0, 1, 2});
  cuda::sum_squares_multi(g, q2, {0, 1, 2});
  cmp(q2, q1, 2.5e-7, 0, "sum_squares_multi over two launch tables float32");
  const Tensor r = f64({0, 0.5});
  const TensorList h1 = clone_list(g), h2 = clone_list(g);
  cpu::scale_by_clip_coefficient_multi(h1, r);
  cuda::scale_by_clip_coefficient_multi(h2, r);
  same_list(h2, h1, "scale_by_clip_coefficient_multi over two launch tables float32");
}

// A draw captured into a CUDA graph: the kernel reads (seed, base) from device memory (here the
// emulator's host memory) and adds its relative counter; it must equal the eager CPU draw at
// (seed, base + relative), bit for bit. The seed passed by value is a decoy the kernel must
// ignore; one base makes base + relative wrap past 2^64, as the host's uint64 sum does.
void random_device_state_cases() {
  struct Case { uint64_t seed, base, relative; };
  for (const Case c : {Case{1234, 77, 0}, Case{99, (1ULL << 32) - 5, 4100},
                       Case{7, ~0ULL - 2, 10}}) {
    const uint64_t state[2] = {c.seed, c.base};
    const PhiloxDraw captured{c.seed ^ 0xdeadbeef, c.relative, state};
    const PhiloxDraw eager{c.seed, c.base + c.relative, nullptr};
    const std::string tag = " device_state base=" + std::to_string(c.base) +
                            " rel=" + std::to_string(c.relative);
    for (int64_t n : {1, 4099}) {
      const std::string ntag = tag + " n=" + std::to_string(n);
      for (DType dt : {DType::Float32, DType::Float64}) {
        Tensor a = empty({n}, {dt}), b = empty({n}, {dt});
        cpu::fill_uniform(a, eager, -2, 3);
        cuda::fill_uniform(b, captured, -2, 3);
        same(b, a, "fill_uniform" + ntag + " " + dt_name(dt));
        cpu::fill_normal(a, eager, 0.5, 2);
        cuda::fill_normal(b, captured, 0.5, 2);
        same(b, a, "fill_normal" + ntag + " " + dt_name(dt));
      }
      for (DType dt : {DType::Float32, DType::Float64, DType::UInt8}) {
        Tensor a = empty({n}, {dt}), b = empty({n}, {dt});
        cpu::fill_bernoulli(a, eager, 0.3);
        cuda::fill_bernoulli(b, captured, 0.3);
        same(b, a, "fill_bernoulli" + ntag + " " + dt_name(dt));
      }
      Tensor k1 = empty({n}, {DType::Int64}), k2 = empty({n}, {DType::Int64});
      cpu::random_keys(k1, eager);
      cuda::random_keys(k2, captured);
      same(k2, k1, "random_keys" + ntag);
    }
  }
}

void random_cases() {
  for (int64_t n : {1, 1000, 4099}) {
    const std::string tag = " n=" + std::to_string(n);
    for (DType dt : {DType::Float32, DType::Float64}) {
      Tensor a = empty({n}, {dt}), b = empty({n}, {dt});
      cpu::fill_uniform(a, {1234, 77}, -2, 3);
      cuda::fill_uniform(b, {1234, 77}, -2, 3);
      same(b, a, "fill_uniform" + tag + " " + dt_name(dt));
      cpu::fill_normal(a, {99, (1ULL << 32) - 5}, 0.5, 2);  // counter crosses 2^32
      cuda::fill_normal(b, {99, (1ULL << 32) - 5}, 0.5, 2);
      same(b, a, "fill_normal" + tag + " " + dt_name(dt));
    }
    for (DType dt : {DType::Float32, DType::Float64, DType::UInt8}) {
      Tensor a = empty({n}, {dt}), b = empty({n}, {dt});
      cpu::fill_bernoulli(a, {5, 3}, 0.3);
      cuda::fill_bernoulli(b, {5, 3}, 0.3);
      same(b, a, "fill_bernoulli" + tag + " " + dt_name(dt));
    }
    Tensor k1 = empty({n}, {DType::Int64}), k2 = empty({n}, {DType::Int64});
    cpu::random_keys(k1, {8, 12});
    cuda::random_keys(k2, {8, 12});
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
  for (DType dt : {DType::Float32, DType::Float64}) optim_multi_cases(dt);
  optim_multi_long_list();
  section("random.cu");
  random_cases();
  random_device_state_cases();
}
