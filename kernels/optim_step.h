// The per-element optimizer formulas (contract: kernels/optim.h), written once and compiled for
// both the CPU (kernels/cpu/optim.cpp) and the GPU (kernels/cuda/optim.cu), so the two devices
// cannot drift apart. Everything is computed in double; each stored value is rounded once to T.
// The host folds the step-dependent scalars (bias corrections) into the Coefficients.
#pragma once
#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define EMBER_OPTIM_HOST_DEVICE __host__ __device__
#elif defined(__GNUC__)
// always_inline: the CPU loop is compiled as AVX2 and baseline clones (kernels/cpu/optim.cpp),
// and GCC inlines a plain inline function into a clone of another target only when forced.
#define EMBER_OPTIM_HOST_DEVICE __attribute__((always_inline))
#else
#define EMBER_OPTIM_HOST_DEVICE
#endif

namespace ember::kernels::optim_step {

struct SgdCoefficients {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, first_step;
};

// p, g, b: element i of param, grad and the momentum buffer (b unused when momentum == 0).
template <typename T>
EMBER_OPTIM_HOST_DEVICE inline void sgd(T& p, T g, T* b, const SgdCoefficients& k) {
  const double pd = static_cast<double>(p);
  double d = static_cast<double>(g) + k.weight_decay * pd;
  if (k.momentum != 0.0) {
    const double old = k.first_step ? 0.0 : static_cast<double>(*b);
    const T buf = static_cast<T>(k.first_step ? d : k.momentum * old + (1.0 - k.dampening) * d);
    *b = buf;
    // The update uses the buffer as stored, like PyTorch's in-place buffer.
    d = k.nesterov ? d + k.momentum * static_cast<double>(buf) : static_cast<double>(buf);
  }
  p = static_cast<T>(pd - k.lr * d);
}

struct AdamCoefficients {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;
  double step_size;              // lr / (1 - beta1^step)
  double bias_correction2_sqrt;  // sqrt(1 - beta2^step)
};

inline AdamCoefficients adam_coefficients(double lr, double beta1, double beta2, double eps,
                                          double weight_decay, bool decoupled, int64_t step) {
  const double n = static_cast<double>(step);
  return {lr, beta1, beta2, eps, weight_decay, decoupled, lr / (1.0 - std::pow(beta1, n)),
          std::sqrt(1.0 - std::pow(beta2, n))};
}

template <typename T>
EMBER_OPTIM_HOST_DEVICE inline void adam(T& p, T g, T& m, T& v, const AdamCoefficients& k) {
  double pd = static_cast<double>(p);
  double gd = static_cast<double>(g);
  if (k.weight_decay != 0.0) {
    if (k.decoupled)
      pd *= 1.0 - k.lr * k.weight_decay;
    else
      gd += k.weight_decay * pd;
  }
  const T m_new = static_cast<T>(k.beta1 * static_cast<double>(m) + (1.0 - k.beta1) * gd);
  const T v_new = static_cast<T>(k.beta2 * static_cast<double>(v) + (1.0 - k.beta2) * gd * gd);
  m = m_new;
  v = v_new;
  const double denom = sqrt(static_cast<double>(v_new)) / k.bias_correction2_sqrt + k.eps;
  p = static_cast<T>(pd - k.step_size * static_cast<double>(m_new) / denom);
}

}  // namespace ember::kernels::optim_step
