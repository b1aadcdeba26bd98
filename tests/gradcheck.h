// Finite-difference checks used by every op test.
//
// gradcheck: for f(inputs) -> Tensor, projects the output on a fixed random tensor R
// (L = sum(f * R)), computes dL/dx by central differences (L(x + h e_i) - L(x - h e_i)) / 2h in
// float64, and compares them element by element with dL/dx computed by backward twice:
//   - "fast" backward (create_graph off): the fused kernels an op may take as a shortcut;
//   - "composite" backward (create_graph on): the gradient built from differentiable ops, the
//     one a double backward (the WGAN-GP penalty) differentiates.
// Both are checked because an op may compute them differently (ops/activation.cpp, ops/loss.cpp,
// ops/norm.cpp): checking only one leaves the other blind.
//
// gradgradcheck: checks the derivative of the gradient. With V random, the scalar
// H(inputs, R) = sum_i <dL/dx_i, V_i> is built with create_graph. First, H's value is compared
// with the same sum over the fast first-order gradient, which ties the graph being
// differentiated to the first-order kernels. Then H goes through gradcheck: its gradient (the
// backward of the backward, fast and composite) against central differences of H, which only
// need first derivatives. R is an input too, so the backward's dependence on the output gradient
// is checked as well.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "ops/ops.h"

namespace ember::testing {

using Fn = std::function<Tensor(const TensorList&)>;

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-5;
  uint64_t seed = 1234;
  // Which backward paths gradcheck compares with the central differences (see above).
  bool check_fast = true;
  bool check_composite = true;
};

// Returns an empty string when the check passes, else a description of the worst mismatch.
std::string gradcheck(const Fn& f, const TensorList& inputs, const GradcheckOptions& options = {});
std::string gradgradcheck(const Fn& f, const TensorList& inputs, const GradcheckOptions& options = {});

// float64 tensor with values uniform in [low, high), requiring grad.
Tensor random_input(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0);
// Like random_input but keeping every value at least `margin` away from the kinks in `kinks`
// (e.g. {0} for relu and abs), so central differences never straddle one.
Tensor random_input_away_from(const Shape& shape, uint64_t seed, const std::vector<double>& kinks,
                              double margin = 1e-2, double low = -1.0, double high = 1.0);

}  // namespace ember::testing

// EXPECT that a check returned no mismatch.
#define EXPECT_GRADCHECK(...) EXPECT_EQ(::ember::testing::gradcheck(__VA_ARGS__), "")
#define EXPECT_GRADGRADCHECK(...) EXPECT_EQ(::ember::testing::gradgradcheck(__VA_ARGS__), "")
