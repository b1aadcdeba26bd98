// Edge cases across the families: empty tensors (a real GPU rejects a launch with an empty grid,
// and so does the emulator), empty reduced axes, undefined optional operands, strided logits and
// targets for the fused cross-entropy. Each case runs the same body on both devices' kernels
// with outputs pre-filled with 3.0 (so "left untouched" and "written" differ) and compares every
// output, or requires both sides to throw.
#include <functional>

#include "check.h"
#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "kernels/index.h"
#include "kernels/loss.h"
#include "kernels/norm.h"
#include "kernels/optim.h"
#include "kernels/pool.h"
#include "kernels/random.h"
#include "kernels/reduce.h"

using namespace ember;
using namespace ember::kernels;
using namespace emu_check;

namespace {

// body(gpu) runs one device's kernels and returns the outputs to compare.
void both(const std::string& what, const std::function<std::vector<Tensor>(bool)>& body,
          double rtol = 1e-6, double atol = 1e-7) {
  std::vector<Tensor> r[2];
  std::string err[2];
  for (int gpu = 0; gpu < 2; ++gpu) {
    try {
      r[gpu] = body(gpu != 0);
    } catch (const std::exception& e) {
      err[gpu] = e.what();
      if (err[gpu].empty()) err[gpu] = "(empty message)";
    }
  }
  if (!err[0].empty() || !err[1].empty()) {
    ++cases;
    if (!err[0].empty() && !err[1].empty()) {
      std::printf("ok   %-58s both throw: \"%.60s\"\n", what.c_str(), err[1].c_str());
    } else {
      std::printf("FAIL %-58s cpu: \"%s\" cuda: \"%s\"\n", what.c_str(),
                  err[0].empty() ? "(no error)" : err[0].c_str(),
                  err[1].empty() ? "(no error)" : err[1].c_str());
      ++failures;
    }
    return;
  }
  for (size_t k = 0; k < r[0].size(); ++k)
    cmp(r[1][k], r[0][k], rtol, atol, what + (r[0].size() > 1 ? " #" + std::to_string(k) : ""));
}

Tensor filled(const Shape& s, DType dt) { return full(s, 3.0, {dt}); }

// Reductions and softmax over an empty axis, and with no outputs.
void empty_reduction_cases(DType dt) {
  const std::string t = " " + dt_name(dt);
  both("sum [0, 5] over axis 0" + t, [&](bool gpu) {
    Tensor x = rnd({0, 5}, 1, dt), o = filled({1, 5}, dt);
    gpu ? cuda::sum(o, x) : cpu::sum(o, x);
    return std::vector<Tensor>{o};
  });
  both("sum [0, 5] over axis 1" + t, [&](bool gpu) {
    Tensor x = rnd({0, 5}, 1, dt), o = filled({0, 1}, dt);
    gpu ? cuda::sum(o, x) : cpu::sum(o, x);
    return std::vector<Tensor>{o};
  });
  both("amax [4, 0] over axis 1" + t, [&](bool gpu) {
    Tensor x = rnd({4, 0}, 1, dt), o = filled({4, 1}, dt);
    gpu ? cuda::amax(o, x) : cpu::amax(o, x);
    return std::vector<Tensor>{o};
  });
  both("argmax [0, 7] axis 1" + t, [&](bool gpu) {
    Tensor x = rnd({0, 7}, 1, dt), o = full({0}, 3.0, {DType::Int64});
    gpu ? cuda::argmax(o, x, 1) : cpu::argmax(o, x, 1);
    return std::vector<Tensor>{o};
  });
  both("softmax [0, 7]" + t, [&](bool gpu) {
    Tensor x = rnd({0, 7}, 1, dt), o = filled({0, 7}, dt);
    gpu ? cuda::softmax(o, x, 1) : cpu::softmax(o, x, 1);
    return std::vector<Tensor>{o};
  });
  both("log_softmax [3, 0] axis 1" + t, [&](bool gpu) {
    Tensor x = rnd({3, 0}, 1, dt), o = filled({3, 0}, dt);
    gpu ? cuda::log_softmax(o, x, 1) : cpu::log_softmax(o, x, 1);
    return std::vector<Tensor>{o};
  });
}

// Elementwise ops and the fused cross-entropy on empty operands.
void empty_elementwise_loss_cases(DType dt) {
  const std::string t = " " + dt_name(dt);
  both("binary add [0, 3]" + t, [&](bool gpu) {
    Tensor a = rnd({0, 3}, 1, dt), b = rnd({3}, 2, dt), o = filled({0, 3}, dt);
    gpu ? cuda::binary(BinaryOp::Add, o, a, b, 0) : cpu::binary(BinaryOp::Add, o, a, b, 0);
    return std::vector<Tensor>{o};
  });
  both("unary exp [0]" + t, [&](bool gpu) {
    Tensor a = rnd({0}, 1, dt), o = filled({0}, dt);
    gpu ? cuda::unary(UnaryOp::Exp, o, a, 0, 0) : cpu::unary(UnaryOp::Exp, o, a, 0, 0);
    return std::vector<Tensor>{o};
  });
  both("cross_entropy N=0" + t, [&](bool gpu) {
    Tensor x = rnd({0, 5}, 1, dt), tg = full({0}, 0, {DType::Int64});
    Tensor l = filled({0}, dt), w = filled({0}, dt), s = full({0}, 3.0, {DType::Float64});
    gpu ? cuda::cross_entropy_forward(l, w, s, x, tg, Tensor(), 0.1)
        : cpu::cross_entropy_forward(l, w, s, x, tg, Tensor(), 0.1);
    Tensor g = filled({0, 5}, dt), sc = full({}, 1.0, {dt}), ws = full({}, 1.0, {dt});
    gpu ? cuda::cross_entropy_backward(g, x, tg, Tensor(), s, sc, ws, 0.1)
        : cpu::cross_entropy_backward(g, x, tg, Tensor(), s, sc, ws, 0.1);
    return std::vector<Tensor>{l, g};
  });
}

// Normalisation with no rows (statistics of an empty batch) and no channels.
void empty_norm_cases(DType dt) {
  const std::string t = " " + dt_name(dt);
  both("batch_norm training M=0" + t, [&](bool gpu) {
    Tensor x = rnd({0, 4}, 1, dt), y = filled({0, 4}, dt);
    Tensor m = filled({4}, dt), v = filled({4}, dt), i = filled({4}, dt);
    gpu ? cuda::batch_norm_forward_training(y, m, v, i, x, Tensor(), Tensor(), 1e-5)
        : cpu::batch_norm_forward_training(y, m, v, i, x, Tensor(), Tensor(), 1e-5);
    return std::vector<Tensor>{m, v, i};
  });
  both("batch_norm backward M=0" + t, [&](bool gpu) {
    Tensor x = rnd({0, 4}, 1, dt), dy = rnd({0, 4}, 2, dt), dx = filled({0, 4}, dt);
    Tensor dw = filled({4}, dt), db = filled({4}, dt), m = rnd({4}, 3, dt), i = rnd({4}, 4, dt);
    gpu ? cuda::batch_norm_backward(dx, dw, db, dy, x, Tensor(), m, i)
        : cpu::batch_norm_backward(dx, dw, db, dy, x, Tensor(), m, i);
    return std::vector<Tensor>{dw, db};
  });
  // C = 0: the CUDA wrappers return early; the CPU reference divides by C (SIGFPE), so only
  // the emulated side runs: it must launch nothing (an empty grid would abort the emulator).
  {
    Tensor x = rnd({5, 0}, 1, dt), y = filled({5, 0}, dt), e = filled({0}, dt);
    cuda::batch_norm_forward_training(y, e, e, e, x, Tensor(), Tensor(), 1e-5);
    cuda::batch_norm_forward_inference(y, x, Tensor(), Tensor(), e, e, 1e-5);
    cuda::batch_norm_backward(y, e, e, x, x, Tensor(), e, e);
    ++cases;
    std::printf("ok   %-58s launches nothing\n", ("batch_norm C=0 (cuda only)" + t).c_str());
  }
  both("layer_norm forward M=0" + t, [&](bool gpu) {
    Tensor x = rnd({0, 6}, 1, dt), y = filled({0, 6}, dt), m = filled({0}, dt), i = filled({0}, dt);
    gpu ? cuda::layer_norm_forward(y, m, i, x, Tensor(), Tensor(), 1e-5)
        : cpu::layer_norm_forward(y, m, i, x, Tensor(), Tensor(), 1e-5);
    return std::vector<Tensor>{y};
  });
  both("layer_norm backward M=0: dweight, dbias (cpu bug: README)" + t, [&](bool gpu) {
    Tensor x = rnd({0, 6}, 1, dt), dy = rnd({0, 6}, 2, dt), dx = filled({0, 6}, dt);
    Tensor m = filled({0}, dt), i = filled({0}, dt), dw = filled({6}, dt), db = filled({6}, dt);
    Tensor w = rnd({6}, 3, dt);
    gpu ? cuda::layer_norm_backward(dx, dw, db, dy, x, w, m, i)
        : cpu::layer_norm_backward(dx, dw, db, dy, x, w, m, i);
    return std::vector<Tensor>{dw, db};
  });
}

// Indexing with empty indices, and an empty table.
void empty_index_cases(DType dt) {
  const std::string t = " " + dt_name(dt);
  both("gather empty index" + t, [&](bool gpu) {
    Tensor x = rnd({4, 5}, 1, dt), idx = full({0, 5}, 0, {DType::Int64}), o = filled({0, 5}, dt);
    gpu ? cuda::gather(o, x, 0, idx) : cpu::gather(o, x, 0, idx);
    return std::vector<Tensor>{o};
  });
  both("scatter_add empty index" + t, [&](bool gpu) {
    Tensor idx = full({0, 5}, 0, {DType::Int64}), src = rnd({0, 5}, 1, dt), o = filled({4, 5}, dt);
    gpu ? cuda::scatter_add(o, 0, idx, src) : cpu::scatter_add(o, 0, idx, src);
    return std::vector<Tensor>{o};
  });
  both("embedding empty index, D=0" + t, [&](bool gpu) {
    Tensor w = rnd({4, 3}, 1, dt), idx = full({0}, 0, {DType::Int64}), o = filled({0, 3}, dt);
    gpu ? cuda::embedding(o, w, idx) : cpu::embedding(o, w, idx);
    Tensor w0 = rnd({4, 0}, 1, dt), idx2 = full({2}, 1, {DType::Int64}), o2 = filled({2, 0}, dt);
    gpu ? cuda::embedding(o2, w0, idx2) : cpu::embedding(o2, w0, idx2);
    return std::vector<Tensor>{o, o2};
  });
  both("embedding_backward empty index, V=0 with no index" + t, [&](bool gpu) {
    Tensor g = rnd({0, 3}, 1, dt), idx = full({0}, 0, {DType::Int64}), o = filled({4, 3}, dt);
    gpu ? cuda::embedding_backward(o, g, idx) : cpu::embedding_backward(o, g, idx);
    Tensor o2 = filled({0, 3}, dt);
    gpu ? cuda::embedding_backward(o2, g, idx) : cpu::embedding_backward(o2, g, idx);
    return std::vector<Tensor>{o, o2};
  });
  both("embedding_backward D=0" + t, [&](bool gpu) {
    Tensor g = rnd({2, 0}, 1, dt), idx = full({2}, 1, {DType::Int64}), o = filled({4, 0}, dt);
    gpu ? cuda::embedding_backward(o, g, idx) : cpu::embedding_backward(o, g, idx);
    return std::vector<Tensor>{o};
  });
}

// Resampling, optimiser steps and random fills of nothing.
void empty_resample_optim_random_cases(DType dt) {
  const std::string t = " " + dt_name(dt);
  both("upsample / downsample N=0" + t, [&](bool gpu) {
    Tensor x = rnd({0, 2, 2, 3}, 1, dt), u = filled({0, 4, 4, 3}, dt), d = filled({0, 1, 1, 3}, dt);
    gpu ? cuda::upsample_nearest(u, x, 2, 2) : cpu::upsample_nearest(u, x, 2, 2);
    gpu ? cuda::downsample_sum(d, x, 2, 2) : cpu::downsample_sum(d, x, 2, 2);
    return std::vector<Tensor>{u, d};
  });
  both("sgd / adam n=0" + t, [&](bool gpu) {
    Tensor p = filled({0}, dt), g = filled({0}, dt), m = filled({0}, dt), v = filled({0}, dt);
    gpu ? cuda::sgd_step(p, g, m, 0.1, 0.9, 0, 0, false, false)
        : cpu::sgd_step(p, g, m, 0.1, 0.9, 0, 0, false, false);
    gpu ? cuda::adam_step(p, g, m, v, 0.1, 0.9, 0.99, 1e-8, 0, false, 1)
        : cpu::adam_step(p, g, m, v, 0.1, 0.9, 0.99, 1e-8, 0, false, 1);
    return std::vector<Tensor>{p};
  });
  both("random n=0" + t, [&](bool gpu) {
    Tensor o = filled({0}, dt), k = full({0}, 0, {DType::Int64}), p = full({0}, 0, {DType::Int64});
    const PhiloxDraw d{1, 2, nullptr};
    gpu ? cuda::fill_uniform(o, d, 0, 1) : cpu::fill_uniform(o, d, 0, 1);
    gpu ? cuda::fill_normal(o, d, 0, 1) : cpu::fill_normal(o, d, 0, 1);
    gpu ? cuda::fill_bernoulli(o, d, 0.5) : cpu::fill_bernoulli(o, d, 0.5);
    gpu ? cuda::random_keys(k, d) : cpu::random_keys(k, d);
    gpu ? cuda::permutation_from_keys(p, k) : cpu::permutation_from_keys(p, k);
    return std::vector<Tensor>{o, p};
  });
}

// Empty tensors in every family (outputs pre-filled, so an untouched one is seen).
void empty_cases(DType dt) {
  empty_reduction_cases(dt);
  empty_elementwise_loss_cases(dt);
  empty_norm_cases(dt);
  empty_index_cases(dt);
  empty_resample_optim_random_cases(dt);
}

// Cross-entropy variants the pointwise checks do not cover: no weight, strided logits (a
// transposed [C, N]) and target (every other element), eps = 0.
void loss_cases(DType dt) {
  const std::string t = " " + dt_name(dt);
  for (int64_t C : {7, 1500}) {
    const int64_t N = 45;
    Tensor xt = rnd({C, N}, 5, dt, -4, 4).permute({1, 0});
    std::vector<int64_t> tv(2 * N);
    for (int64_t i = 0; i < 2 * N; ++i) tv[i] = (i * 13 + 5) % C;
    Tensor target = from_vector(tv, {2 * N}, {.dtype = DType::Int64}).slice(0, 0, 2 * N, 2);
    for (double eps : {0.0, 0.2}) {
      both("cross_entropy strided x, target, no weight C=" + std::to_string(C) +
               " eps=" + std::to_string(eps).substr(0, 3) + t,
           [&](bool gpu) {
             Tensor l = filled({N}, dt), w = filled({N}, dt), s = full({N}, 3.0, {DType::Float64});
             gpu ? cuda::cross_entropy_forward(l, w, s, xt, target, Tensor(), eps)
                 : cpu::cross_entropy_forward(l, w, s, xt, target, Tensor(), eps);
             Tensor g = filled({N, C}, dt), sc = full({}, 0.5, {dt}), ws = full({}, double(C), {dt});
             gpu ? cuda::cross_entropy_backward(g, xt, target, Tensor(), s, sc, ws, eps)
                 : cpu::cross_entropy_backward(g, xt, target, Tensor(), s, sc, ws, eps);
             return std::vector<Tensor>{l, w, s, g};
           });
    }
  }
}

// Out-of-range targets: the CPU throws; the GPU call does not, gives each bad sample a NaN loss
// and weight, and the host's check at its next sync throws the CPU's message for the first bad
// sample (kernels/loss.h). Two bad labels (samples 3 and 1, 1 reported), strided target.
void bad_target_cases(DType dt) {
  const std::string t = " " + dt_name(dt);
  Tensor x = rnd({5, 4}, 6, dt);
  Tensor target = from_vector(std::vector<int64_t>{1, 0, 4, 9, 0, 9, 9, -2, 2, 9}, {10},
                              {.dtype = DType::Int64})
                      .slice(0, 0, 10, 2);  // {1, 4, 0, -2, 2}: bad at samples 1 and 3
  Tensor good = from_vector(std::vector<int64_t>{1, 3, 0, 2, 2}, {5}, {.dtype = DType::Int64});
  Tensor l = filled({5}, dt), w = filled({5}, dt), s = full({5}, 3.0, {DType::Float64});
  Tensor l1 = filled({5}, dt), w1 = filled({5}, dt), s1 = full({5}, 3.0, {DType::Float64});
  std::vector<double> lv, wv;
  expect_deferred([&] { cpu::cross_entropy_forward(l1, w1, s1, x, target, Tensor(), 0.0); },
                  [&] {
                    cuda::cross_entropy_forward(l, w, s, x, target, Tensor(), 0.0);
                    lv = l.to_vector<double>();
                    wv = w.to_vector<double>();
                  },
                  1, [&] { cuda::cross_entropy_forward(l, w, s, x, good, Tensor(), 0.0); },
                  "cross_entropy target out of range" + t);
  ++cases;
  const bool ok = lv.size() == 5 && !std::isnan(lv[0]) && std::isnan(lv[1]) &&
                  std::isnan(wv[1]) && !std::isnan(lv[2]) && std::isnan(lv[3]) &&
                  std::isnan(wv[3]) && !std::isnan(lv[4]);
  std::printf("%s %-58s loss %g %g %g %g %g\n", ok ? "ok  " : "FAIL",
              ("cross_entropy bad targets -> NaN loss and weight" + t).c_str(),
              lv.size() == 5 ? lv[0] : 0.0, lv.size() == 5 ? lv[1] : 0.0,
              lv.size() == 5 ? lv[2] : 0.0, lv.size() == 5 ? lv[3] : 0.0,
              lv.size() == 5 ? lv[4] : 0.0);
  failures += !ok;
  // The good call after the report matches the CPU.
  cpu::cross_entropy_forward(l1, w1, s1, x, good, Tensor(), 0.0);
  cmp(l, l1, 1e-6, 1e-7, "cross_entropy after a reported error" + t);
}

}  // namespace

void check_edges() {
  section("edge cases: empty tensors, cross-entropy variants");
  for (DType dt : {DType::Float32, DType::Float64}) {
    empty_cases(dt);
    loss_cases(dt);
    bad_target_cases(dt);
  }
}
