// Elementwise arithmetic with NumPy broadcasting, scalar forms, comparisons and masking.
// Forward and backward live side by side in ops/elementwise.cpp; every op here supports double
// backward (its backward is written with these same ops).
#pragma once
#include "tensor/tensor.h"

namespace ember {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);
Tensor add_scalar(const Tensor& a, double s);
Tensor mul_scalar(const Tensor& a, double s);
Tensor reciprocal(const Tensor& a);
Tensor pow(const Tensor& a, double exponent);
Tensor sqrt(const Tensor& a);
Tensor rsqrt(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor abs(const Tensor& a);
// Clamps into [lo, hi]; pass -inf or +inf for a one-sided clamp. Gradient 1 strictly inside.
Tensor clamp(const Tensor& a, double lo, double hi);
// cond (any dtype, nonzero = true) picks from a, else b; all three broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// Comparisons: uint8 masks (1 where true), no gradient.
Tensor greater(const Tensor& a, double s);
Tensor less(const Tensor& a, double s);
Tensor equal(const Tensor& a, const Tensor& b);
Tensor sign(const Tensor& a);  // -1, 0, 1 in a's dtype, no gradient

// In place, no autograd (optimizers, gradient accumulation): self += alpha * other (broadcast
// into self's shape); self *= s. Each bumps self's version.
void add_(const Tensor& self, const Tensor& other, double alpha = 1.0);
void mul_(const Tensor& self, double s);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, double s) { return add_scalar(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add_scalar(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add_scalar(a, -s); }
inline Tensor operator-(double s, const Tensor& a) { return add_scalar(neg(a), s); }
inline Tensor operator*(const Tensor& a, double s) { return mul_scalar(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul_scalar(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return mul_scalar(a, 1.0 / s); }
inline Tensor operator/(double s, const Tensor& a) { return mul_scalar(reciprocal(a), s); }

}  // namespace ember
