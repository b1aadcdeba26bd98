// Device dispatch for the fused squeeze-and-excite block (contract: kernels/squeeze_excite.h).
#include "kernels/squeeze_excite.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void squeeze_excite_forward(const Tensor& y, const Tensor& pooled, const Tensor& z1,
                            const Tensor& gate, const Tensor& h, const Tensor& w1,
                            const Tensor& b1, const Tensor& w2, const Tensor& b2) {
  EMBER_DISPATCH_DEVICE(h, "squeeze_excite", squeeze_excite_forward, y, pooled, z1, gate, h, w1,
                        b1, w2, b2);
}

void squeeze_excite_backward_input(const Tensor& dh, const Tensor& dz2, const Tensor& dz1,
                                   const Tensor& dy, const Tensor& h, const Tensor& z1,
                                   const Tensor& gate, const Tensor& w1, const Tensor& w2) {
  EMBER_DISPATCH_DEVICE(h, "squeeze_excite (input gradient)", squeeze_excite_backward_input, dh,
                        dz2, dz1, dy, h, z1, gate, w1, w2);
}

void squeeze_excite_backward_weights(const Tensor& dw1, const Tensor& db1, const Tensor& dw2,
                                     const Tensor& db2, const Tensor& dz1, const Tensor& dz2,
                                     const Tensor& pooled, const Tensor& z1) {
  EMBER_DISPATCH_DEVICE(dz1, "squeeze_excite (weight gradient)", squeeze_excite_backward_weights,
                        dw1, db1, dw2, db2, dz1, dz2, pooled, z1);
}

}  // namespace ember::kernels
