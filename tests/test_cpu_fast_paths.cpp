// The CPU speed paths of docs/cpu_performance.md, each against a plain reference:
// - kernels/cpu/blas.h: gemm_rowmajor split over OpenMP threads by rows or by columns, every
//   transpose combination, odd sizes, beta != 0 and strided leading dimensions, against a naive
//   triple loop in double; and bit-identical results for 1 and 2 threads;
// - kernels/cpu/fast_exp.h: fast_exp within 2 ulp of exp in double on a sweep of
//   [-87.3, 88.37], clamped ends, NaN propagation;
// - silu / sigmoid / silu_grad float32 (which use fast_exp) against double formulas.
// Run: ember_tests --gtest_filter='CpuFastPaths*'.
#include <gtest/gtest.h>
#include <omp.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/blas.h"
#include "kernels/cpu/fast_exp.h"
#include "kernels/elementwise.h"
#include "ops/ops.h"

namespace ember {
namespace {

std::vector<float> random_floats(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

struct GemmCase {
  bool ta, tb;
  int64_t M, N, K;
};

// C = alpha op(A) op(B) + beta C with leading dimensions padded by 3 (strided operands).
void check_gemm(const GemmCase& g) {
  const int64_t lda = (g.ta ? g.M : g.K) + 3, ldb = (g.tb ? g.K : g.N) + 3, ldc = g.N + 3;
  const int64_t a_rows = g.ta ? g.K : g.M, b_rows = g.tb ? g.N : g.K;
  const std::vector<float> A = random_floats(a_rows * lda, 1), B = random_floats(b_rows * ldb, 2);
  const std::vector<float> C0 = random_floats(g.M * ldc, 3);
  const float alpha = 0.75f, beta = -0.5f;
  auto a_at = [&](int64_t m, int64_t k) { return g.ta ? A[k * lda + m] : A[m * lda + k]; };
  auto b_at = [&](int64_t k, int64_t n) { return g.tb ? B[n * ldb + k] : B[k * ldb + n]; };
  std::vector<float> C = C0;
  kernels::cpu::gemm_rowmajor(g.ta, g.tb, g.M, g.N, g.K, alpha, A.data(), lda, B.data(), ldb, beta,
                              C.data(), ldc);
  for (int64_t m = 0; m < g.M; ++m) {
    for (int64_t n = 0; n < g.N; ++n) {
      double ref = beta * static_cast<double>(C0[m * ldc + n]);
      for (int64_t k = 0; k < g.K; ++k) ref += alpha * static_cast<double>(a_at(m, k)) * b_at(k, n);
      ASSERT_NEAR(C[m * ldc + n], ref, 1e-4 * (1.0 + std::sqrt(static_cast<double>(g.K))))
          << "ta " << g.ta << " tb " << g.tb << " M " << g.M << " N " << g.N << " K " << g.K
          << " at (" << m << ", " << n << ")";
    }
    for (int64_t n = g.N; n < ldc; ++n)  // the padding columns are left alone
      ASSERT_EQ(C[m * ldc + n], C0[m * ldc + n]);
  }
}

TEST(CpuFastPaths, GemmSplitByRowsAndColumnsMatchesNaive) {
  // Large enough (M * N * K >= 2^18) to be split; M > N splits rows, N > M splits columns
  // (N = 211 is not a multiple of the 16-column blocks).
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check_gemm({ta, tb, 301, 37, 64});
      check_gemm({ta, tb, 29, 211, 96});
      check_gemm({ta, tb, 5, 3, 7});  // small: one call
    }
}

// The promise of kernels/cpu/blas.h: the same bits for any thread count, under whichever
// OpenBLAS core type runs (CTest repeats this under each one the CPU supports:
// tests/openblas_core_types.sh sets EMBER_EXPECT_OPENBLAS_CORE so a core type that OpenBLAS
// ignored cannot pass unnoticed). Shapes split by rows and by columns, with tails that are not
// whole register tiles, every transpose.
TEST(CpuFastPaths, GemmIsBitIdenticalForAnyThreadCount) {
  if (const char* expected = std::getenv("EMBER_EXPECT_OPENBLAS_CORE")) {
    std::string core = kernels::cpu::blas_core_name(), want = expected;
    for (auto* s : {&core, &want})
      for (char& c : *s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ASSERT_EQ(core, want) << "OpenBLAS runs another core type than OPENBLAS_CORETYPE asks for";
  }
  const GemmCase cases[] = {{false, false, 256, 200, 300}, {false, true, 301, 37, 64},
                            {true, false, 29, 211, 96},    {true, true, 517, 130, 75},
                            {false, false, 1000, 9, 40}};
  const int saved = omp_get_max_threads();
  for (const GemmCase& g : cases) {
    const int64_t lda = g.ta ? g.M : g.K, ldb = g.tb ? g.K : g.N;
    const std::vector<float> A = random_floats((g.ta ? g.K : g.M) * lda, 4),
                             B = random_floats((g.tb ? g.N : g.K) * ldb, 5);
    std::vector<float> reference;
    for (int threads : {1, 2, 3, 4, 7}) {
      std::vector<float> C(static_cast<size_t>(g.M * g.N));
      omp_set_num_threads(threads);
      kernels::cpu::gemm_rowmajor(g.ta, g.tb, g.M, g.N, g.K, 1.0f, A.data(), lda, B.data(), ldb,
                                  0.0f, C.data(), g.N);
      if (reference.empty()) {
        reference = C;
        continue;
      }
      size_t differing = 0;
      for (size_t i = 0; i < C.size(); ++i) differing += C[i] != reference[i];
      EXPECT_EQ(differing, 0u) << threads << " threads vs 1, ta " << g.ta << " tb " << g.tb
                               << " M " << g.M << " N " << g.N << " K " << g.K
                               << " (OpenBLAS core " << kernels::cpu::blas_core_name() << ")";
    }
  }
  omp_set_num_threads(saved);
}

// The same promise for a whole small training step on the CPU kernels (convolutions through
// GEMM and the depthwise loops, batch norm's blocked sums, activations, pooling, a dense layer,
// the loss and every backward): loss and gradients bit-identical for 1 to 4 threads.
TEST(CpuFastPaths, ConvNetStepIsBitIdenticalForAnyThreadCount) {
  const Tensor x = from_vector(random_floats(8 * 24 * 24 * 8, 7), {8, 24, 24, 8});
  const Tensor w1 = from_vector(random_floats(32 * 3 * 3 * 8, 8), {32, 3, 3, 8});
  const Tensor dw = from_vector(random_floats(32 * 3 * 3 * 1, 9), {32, 3, 3, 1});
  const Tensor w2 = from_vector(random_floats(10 * 32, 10), {10, 32});
  const Tensor gamma = from_vector(random_floats(32, 11), {32}), beta = zeros({32});
  const Tensor labels = from_vector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7}, {8}, {.dtype = DType::Int64});
  auto step = [&] {
    TensorList params;
    for (const Tensor& t : {w1, dw, w2, gamma}) {
      Tensor p = t.clone();
      p.set_requires_grad(true);
      params.push_back(p);
    }
    Tensor h = conv2d(x, params[0], Tensor(), same_padding(24, 24, 3, 3, 2, 2));
    h = silu(batch_norm(h, params[3], beta, Tensor(), Tensor(), {.training = true}));
    h = silu(conv2d(h, params[1], Tensor(), same_padding(12, 12, 3, 3, 1, 1, /*groups=*/32)));
    const Tensor loss = cross_entropy(linear(global_avg_pool(h), params[2]), labels);
    TensorList out = grad({loss}, params);
    out.push_back(loss);
    std::vector<std::vector<float>> values;
    for (const Tensor& t : out) values.push_back(t.to_vector<float>());
    return values;
  };
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto reference = step();
  for (int threads : {2, 3, 4}) {
    omp_set_num_threads(threads);
    const auto values = step();
    for (size_t i = 0; i < values.size(); ++i)
      EXPECT_EQ(values[i], reference[i]) << "tensor " << i << " (w1, dw, w2, gamma, loss) with "
                                         << threads << " threads vs 1, OpenBLAS core "
                                         << kernels::cpu::blas_core_name();
  }
  omp_set_num_threads(saved);
}

TEST(CpuFastPaths, FastExpWithinTwoUlp) {
  double worst = 0;
  for (float x = -87.3f; x < 88.37f; x += 0.0137f) {
    const double ref = std::exp(static_cast<double>(x));
    const float rf = static_cast<float>(ref);
    const double ulp = std::nextafter(rf, std::numeric_limits<float>::infinity()) - rf;
    worst = std::max(worst, std::abs(kernels::cpu::fast_exp(x) - ref) / ulp);
  }
  EXPECT_LE(worst, 2.0);
  EXPECT_FLOAT_EQ(kernels::cpu::fast_exp(0.0f), 1.0f);
  EXPECT_FLOAT_EQ(kernels::cpu::fast_exp(1.0f), 2.7182817f);
  // Clamped ends: tiny and huge but finite, so 1 / (1 + exp(-x)) is 0 or 1 to float precision.
  EXPECT_GT(kernels::cpu::fast_exp(-1000.0f), 0.0f);
  EXPECT_LT(kernels::cpu::fast_exp(-1000.0f), 1.3e-38f);
  EXPECT_TRUE(std::isfinite(kernels::cpu::fast_exp(1000.0f)));
  EXPECT_GT(kernels::cpu::fast_exp(1000.0f), 2e38f);
  EXPECT_TRUE(std::isnan(kernels::cpu::fast_exp(std::numeric_limits<float>::quiet_NaN())));
}

TEST(CpuFastPaths, SiluSigmoidAndSiluGradFloatMatchDouble) {
  // 40000 elements: above the threshold of the parallel (vectorised) loop.
  const int64_t n = 40000;
  std::vector<float> xs(n), gs = random_floats(n, 6);
  for (int64_t i = 0; i < n; ++i) xs[i] = -100.0f + 200.0f * static_cast<float>(i) / n;
  xs[0] = -1e4f;
  xs[1] = 1e4f;
  const Tensor x = from_vector(xs, {n}), g = from_vector(gs, {n});
  const std::vector<float> silu_out = silu(x).to_vector<float>();
  const std::vector<float> sig_out = sigmoid(x).to_vector<float>();
  const Tensor grad = empty({n});
  kernels::binary(kernels::BinaryOp::SiluGrad, grad, g, x, 0.0);
  const std::vector<float> grad_out = grad.to_vector<float>();
  // Absolute slack 1e-30: below x = -87.3 the clamped exp makes sigmoid ~4e-39 instead of ~0,
  // so silu(-1e4) is -4e-35 where the exact value rounds to -0.
  for (int64_t i = 0; i < n; ++i) {
    const double xv = xs[i], s = 1.0 / (1.0 + std::exp(-xv));
    const double dsilu = gs[i] * s * (1.0 + xv * (1.0 - s));
    ASSERT_NEAR(sig_out[i], s, 1e-6 * s + 1e-37) << "sigmoid at x = " << xv;
    ASSERT_NEAR(silu_out[i], xv * s, 1e-6 * std::abs(xv * s) + 1e-30) << "silu at x = " << xv;
    ASSERT_NEAR(grad_out[i], dsilu, 1e-6 * (std::abs(gs[i]) + std::abs(dsilu)) + 1e-30)
        << "silu_grad at x = " << xv;
  }
}

}  // namespace
}  // namespace ember
