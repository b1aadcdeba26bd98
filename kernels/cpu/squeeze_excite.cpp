// CPU reference for the fused squeeze-and-excite block (contract: kernels/squeeze_excite.h).
// One sample at a time, in parallel over samples: each sample's sums run in a fixed order in
// double, so the thread count never changes a result. The per-sample MLP (two small matrix-vector
// products) is computed in double and rounded once where it is stored.
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/elementwise_math.h"
#include "kernels/squeeze_excite.h"

namespace ember::kernels::cpu {

namespace {

using Math = pointwise::CpuMath;

struct Dims {
  int64_t n, p, c, r;
};

Dims dims_of(const Tensor& h, const Tensor& w1) {
  return {h.size(0), h.size(1), h.size(2), w1.size(0)};
}

double sigmoid(double x) { return pointwise::sigmoid<Math>(x); }

template <typename T>
const T* in(const Tensor& t) {
  return static_cast<const T*>(t.raw_data());
}
template <typename T>
T* out(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

// The forward for one sample n (h_n [P, C], y_n [P, C]). Each vector is used as it is stored:
// z1 from the rounded pooled values, the gate from the rounded z1 (as the GPU, which passes them
// between threads through memory).
template <typename T>
void forward_sample(const Dims& d, const T* h_n, T* y_n, T* pooled_n, T* z1_n, T* gate_n,
                    const T* w1, const T* b1, const T* w2, const T* b2) {
  std::vector<double> sums(d.c, 0.0), a1(d.r);
  for (int64_t p = 0; p < d.p; ++p)
    for (int64_t c = 0; c < d.c; ++c) sums[c] += static_cast<double>(h_n[p * d.c + c]);
  for (int64_t c = 0; c < d.c; ++c) pooled_n[c] = static_cast<T>(sums[c] / static_cast<double>(d.p));
  for (int64_t j = 0; j < d.r; ++j) {
    double z = 0.0;
    for (int64_t c = 0; c < d.c; ++c)
      z += static_cast<double>(w1[j * d.c + c]) * static_cast<double>(pooled_n[c]);
    z1_n[j] = static_cast<T>(static_cast<double>(b1[j]) + z);
    const double zr = static_cast<double>(z1_n[j]);
    a1[j] = zr * sigmoid(zr);
  }
  for (int64_t c = 0; c < d.c; ++c) {
    double z = static_cast<double>(b2[c]);
    for (int64_t j = 0; j < d.r; ++j) z += static_cast<double>(w2[c * d.r + j]) * a1[j];
    gate_n[c] = static_cast<T>(sigmoid(z));
  }
  for (int64_t p = 0; p < d.p; ++p)
    for (int64_t c = 0; c < d.c; ++c) y_n[p * d.c + c] = h_n[p * d.c + c] * gate_n[c];
}

// The input gradient for one sample n, again from the stored (rounded) dz2 and dz1.
template <typename T>
void backward_input_sample(const Dims& d, const T* dy_n, const T* h_n, const T* z1_n,
                           const T* gate_n, const T* w1, const T* w2, T* dh_n, T* dz2_n,
                           T* dz1_n) {
  std::vector<double> ds(d.c, 0.0), dpooled(d.c, 0.0);
  for (int64_t p = 0; p < d.p; ++p)
    for (int64_t c = 0; c < d.c; ++c)
      ds[c] += static_cast<double>(dy_n[p * d.c + c]) * static_cast<double>(h_n[p * d.c + c]);
  for (int64_t c = 0; c < d.c; ++c) {
    const double g = static_cast<double>(gate_n[c]);
    dz2_n[c] = static_cast<T>(ds[c] * g * (1.0 - g));
  }
  for (int64_t j = 0; j < d.r; ++j) {
    double da = 0.0;
    for (int64_t c = 0; c < d.c; ++c)
      da += static_cast<double>(w2[c * d.r + j]) * static_cast<double>(dz2_n[c]);
    const double z = static_cast<double>(z1_n[j]);
    const double s = sigmoid(z);
    dz1_n[j] = static_cast<T>(da * s * (1.0 + z * (1.0 - s)));
  }
  for (int64_t c = 0; c < d.c; ++c) {
    for (int64_t j = 0; j < d.r; ++j)
      dpooled[c] += static_cast<double>(w1[j * d.c + c]) * static_cast<double>(dz1_n[j]);
  }
  std::vector<T> spread(d.c);
  for (int64_t c = 0; c < d.c; ++c) spread[c] = static_cast<T>(dpooled[c] / static_cast<double>(d.p));
  for (int64_t p = 0; p < d.p; ++p)
    for (int64_t c = 0; c < d.c; ++c)
      dh_n[p * d.c + c] = dy_n[p * d.c + c] * gate_n[c] + spread[c];
}

}  // namespace

void squeeze_excite_forward(const Tensor& y, const Tensor& pooled, const Tensor& z1,
                            const Tensor& gate, const Tensor& h, const Tensor& w1,
                            const Tensor& b1, const Tensor& w2, const Tensor& b2) {
  const Dims d = dims_of(h, w1);
  dispatch_float(h.dtype(), "squeeze_excite", [&](auto tag) {
    using T = typename decltype(tag)::type;
#pragma omp parallel for if (d.n * d.p * d.c > 32768)
    for (int64_t n = 0; n < d.n; ++n)
      forward_sample<T>(d, in<T>(h) + n * d.p * d.c, out<T>(y) + n * d.p * d.c,
                        out<T>(pooled) + n * d.c, out<T>(z1) + n * d.r, out<T>(gate) + n * d.c,
                        in<T>(w1), in<T>(b1), in<T>(w2), in<T>(b2));
  });
}

void squeeze_excite_backward_input(const Tensor& dh, const Tensor& dz2, const Tensor& dz1,
                                   const Tensor& dy, const Tensor& h, const Tensor& z1,
                                   const Tensor& gate, const Tensor& w1, const Tensor& w2) {
  const Dims d = dims_of(h, w1);
  dispatch_float(h.dtype(), "squeeze_excite (input gradient)", [&](auto tag) {
    using T = typename decltype(tag)::type;
#pragma omp parallel for if (d.n * d.p * d.c > 32768)
    for (int64_t n = 0; n < d.n; ++n)
      backward_input_sample<T>(d, in<T>(dy) + n * d.p * d.c, in<T>(h) + n * d.p * d.c,
                               in<T>(z1) + n * d.r, in<T>(gate) + n * d.c, in<T>(w1), in<T>(w2),
                               out<T>(dh) + n * d.p * d.c, out<T>(dz2) + n * d.c,
                               out<T>(dz1) + n * d.r);
  });
}

void squeeze_excite_backward_weights(const Tensor& dw1, const Tensor& db1, const Tensor& dw2,
                                     const Tensor& db2, const Tensor& dz1, const Tensor& dz2,
                                     const Tensor& pooled, const Tensor& z1) {
  const int64_t n_samples = dz1.size(0), r = dz1.size(1), c = dz2.size(1);
  dispatch_float(dz1.dtype(), "squeeze_excite (weight gradient)", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* g1 = in<T>(dz1);     // [N, R]
    const T* g2 = in<T>(dz2);     // [N, C]
    const T* pool = in<T>(pooled);  // [N, C]
    const T* z = in<T>(z1);       // [N, R]
    std::vector<double> a1(n_samples * r);
    for (int64_t i = 0; i < n_samples * r; ++i) {
      const double v = static_cast<double>(z[i]);
      a1[i] = v * sigmoid(v);
    }
#pragma omp parallel for if (r * c * n_samples > 32768)
    for (int64_t j = 0; j < r; ++j) {
      for (int64_t k = 0; k < c; ++k) {
        double s1 = 0.0, s2 = 0.0;
        for (int64_t n = 0; n < n_samples; ++n) {
          s1 += static_cast<double>(g1[n * r + j]) * static_cast<double>(pool[n * c + k]);
          s2 += static_cast<double>(g2[n * c + k]) * a1[n * r + j];
        }
        out<T>(dw1)[j * c + k] = static_cast<T>(s1);
        out<T>(dw2)[k * r + j] = static_cast<T>(s2);
      }
    }
    for (int64_t j = 0; j < r; ++j) {
      double s = 0.0;
      for (int64_t n = 0; n < n_samples; ++n) s += static_cast<double>(g1[n * r + j]);
      out<T>(db1)[j] = static_cast<T>(s);
    }
    for (int64_t k = 0; k < c; ++k) {
      double s = 0.0;
      for (int64_t n = 0; n < n_samples; ++n) s += static_cast<double>(g2[n * c + k]);
      out<T>(db2)[k] = static_cast<T>(s);
    }
  });
}

}  // namespace ember::kernels::cpu
