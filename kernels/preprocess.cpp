// Device dispatch for the input preprocessing kernel (kernels/preprocess.h).
#include "kernels/preprocess.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

void rescale_normalize(const Tensor& out, const Tensor& x, double scale, double offset,
                       const Tensor& mean, const Tensor& variance, double eps) {
  EMBER_DISPATCH_DEVICE(out, "rescale_normalize", rescale_normalize, out, x, scale, offset, mean,
                        variance, eps);
}

}  // namespace ember::kernels
