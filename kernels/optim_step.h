// The per-element optimizer formulas (contract: kernels/optim.h), written once and compiled for
// both the CPU (kernels/cpu/optim.cpp) and the GPU (kernels/cuda/optim.cu), so the two devices
// cannot drift apart. Everything is computed in double; each stored value is rounded once to T.
// The step-dependent scalars (bias corrections) are folded into the Coefficients once per call on
// the CPU and once per thread on the GPU, from the learning rate and step count the caller holds
// (per-tensor kernels: arguments; multi-tensor kernels: a device-held float64 tensor).
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

// step: the count including this update, a whole number >= 1 held as a double (the device-held
// step counts are float64). Called on the host for the CPU and in the kernel for CUDA, so each
// device computes the bias corrections with its own pow (CUDA's may differ from glibc's by an
// ulp: the per-tensor and multi-tensor CUDA kernels both compute them on the device).
EMBER_OPTIM_HOST_DEVICE inline AdamCoefficients adam_coefficients(double lr, double beta1,
                                                                  double beta2, double eps,
                                                                  double weight_decay,
                                                                  bool decoupled, double step) {
  return {lr, beta1, beta2, eps, weight_decay, decoupled, lr / (1.0 - pow(beta1, step)),
          sqrt(1.0 - pow(beta2, step))};
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

// Weight EMA as optim/ema.cpp always computed it, two in-place ops in T:
//   shadow = shadow * T(d);  shadow = shadow + T(1 - d) * param
// d_t and one_minus_d_t are T(d) and T(1 - d). The product is kept as its own rounded value
// (__fmul_rn on the GPU: nvcc may not fuse it with the add, as the separate mul_ kernel never
// could); the add is written like add_'s axpy so both compile alike.
template <typename T>
EMBER_OPTIM_HOST_DEVICE inline void ema(T& shadow, T param, T d_t, T one_minus_d_t) {
#ifdef __CUDA_ARCH__
  T decayed;
  if constexpr (sizeof(T) == 4) decayed = __fmul_rn(shadow, d_t);
  else decayed = __dmul_rn(shadow, d_t);
#else
  const T decayed = shadow * d_t;
#endif
  shadow = decayed + one_minus_d_t * param;
}

// The EMA's decay for an update after `n` earlier ones (optim/ema.h).
EMBER_OPTIM_HOST_DEVICE inline double ema_decay(double decay, bool warmup, double n) {
  if (!warmup) return decay;
  const double ramp = (1.0 + n) / (10.0 + n);
  return ramp < decay ? ramp : decay;
}

// clip_grad_norm's coefficient for a total norm (optim/clip.h): the factor the gradients are
// multiplied by, or 1 (no scaling) when max_norm / (norm + 1e-6) >= 1.
EMBER_OPTIM_HOST_DEVICE inline double clip_coefficient(double total_norm, double max_norm) {
  const double coef = max_norm / (total_norm + 1e-6);
  return (coef < 1.0 || coef != coef) ? coef : 1.0;
}

}  // namespace ember::kernels::optim_step
