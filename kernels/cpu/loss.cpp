// CPU reference for the fused cross-entropy kernels (contract: kernels/loss.h). One row at a
// time: max, the normaliser in double, then the smoothed, weighted NLL; the backward is the
// closed form softmax * S_i - coef. Matches ops/loss.cpp's composite (log_softmax, gather, sums),
// which tests/test_cuda_loss.cpp checks, values and gradients.
#include <cmath>
#include <limits>

#include "kernels/loss.h"

namespace ember::kernels::cpu {

void cross_entropy_forward(const Tensor& loss, const Tensor& target_weight, const Tensor& lse,
                           const Tensor& x, const Tensor& target, const Tensor& weight, double eps) {
  dispatch_float(x.dtype(), "cross_entropy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t N = x.shape()[0], C = x.shape()[1];
    const int64_t sn = x.strides()[0], sc = x.strides()[1];
    const T* px = static_cast<const T*>(x.raw_data());      // [N, C], strided
    const int64_t* pt = target.data<int64_t>();             // [N], stride st
    const int64_t st = target.strides()[0];
    const T* pw = weight.defined() ? static_cast<const T*>(weight.raw_data()) : nullptr;  // [C]
    const int64_t sw = weight.defined() ? weight.strides()[0] : 0;
    T* pl = static_cast<T*>(loss.raw_data());                // [N]
    T* pwt = static_cast<T*>(target_weight.raw_data());      // [N]
    double* plse = lse.data<double>();                       // [N]
    for (int64_t i = 0; i < N; ++i)  // before the parallel loop: no throwing inside OpenMP
      EMBER_CHECK(pt[i * st] >= 0 && pt[i * st] < C, "cross_entropy: target label ", pt[i * st],
                  " of sample ", i, " is out of range [0, ", C, ")");
#pragma omp parallel for if (N * C > 32768)
    for (int64_t i = 0; i < N; ++i) {
      const T* row = px + i * sn;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t c = 0; c < C; ++c) m = std::max(m, row[c * sc]);
      double s = 0;
      for (int64_t c = 0; c < C; ++c) s += std::exp(static_cast<double>(row[c * sc] - m));
      const double l = static_cast<double>(m) + std::log(s);
      const int64_t t = pt[i * st];
      const double wt = pw ? static_cast<double>(pw[t * sw]) : 1.0;
      double total = (1.0 - eps) * wt * (l - static_cast<double>(row[t * sc]));
      if (eps > 0) {
        double smooth = 0;
        for (int64_t c = 0; c < C; ++c)
          smooth += (pw ? static_cast<double>(pw[c * sw]) : 1.0) * (l - static_cast<double>(row[c * sc]));
        total += eps / static_cast<double>(C) * smooth;
      }
      pl[i] = static_cast<T>(total);
      pwt[i] = static_cast<T>(wt);
      plse[i] = l;
    }
  });
}

void cross_entropy_backward(const Tensor& grad, const Tensor& x, const Tensor& target,
                            const Tensor& weight, const Tensor& lse, const Tensor& scale,
                            const Tensor& weight_sum, double eps) {
  dispatch_float(x.dtype(), "cross_entropy backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t N = x.shape()[0], C = x.shape()[1];
    const int64_t sn = x.strides()[0], sc = x.strides()[1];
    const T* px = static_cast<const T*>(x.raw_data());      // [N, C], strided
    const int64_t* pt = target.data<int64_t>();             // [N], stride st
    const int64_t st = target.strides()[0];
    const T* pw = weight.defined() ? static_cast<const T*>(weight.raw_data()) : nullptr;  // [C]
    const int64_t sw = weight.defined() ? weight.strides()[0] : 0;
    const double* plse = lse.data<double>();                 // [N]
    T* pg = static_cast<T*>(grad.raw_data());                // [N, C], contiguous
    const double k = static_cast<double>(*static_cast<const T*>(scale.raw_data()));
    const double wsum = static_cast<double>(*static_cast<const T*>(weight_sum.raw_data()));
    const double smooth = eps / static_cast<double>(C);
#pragma omp parallel for if (N * C > 32768)
    for (int64_t i = 0; i < N; ++i) {
      const int64_t t = pt[i * st];
      const double wt = pw ? static_cast<double>(pw[t * sw]) : 1.0;
      const double S = (1.0 - eps) * wt + smooth * wsum;
      for (int64_t c = 0; c < C; ++c) {
        const double p = std::exp(static_cast<double>(px[i * sn + c * sc]) - plse[i]);
        double coef = smooth * (pw ? static_cast<double>(pw[c * sw]) : 1.0);
        if (c == t) coef += (1.0 - eps) * wt;
        pg[i * C + c] = static_cast<T>(k * (p * S - coef));
      }
    }
  });
}

}  // namespace ember::kernels::cpu
