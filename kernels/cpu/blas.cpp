// OpenMP-threaded row-major GEMM over single-threaded OpenBLAS calls (contract: kernels/cpu/blas.h,
// which says why).
#include "kernels/cpu/blas.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <limits>
#include <mutex>

#include "tensor/error.h"

namespace ember::kernels::cpu {

namespace {

// Below this many multiply-adds one thread does the whole product: waking the team costs more.
constexpr int64_t kParallelMacs = int64_t{1} << 18;
// A split product is cut into at most this many calls, each at least kMinBlock rows or columns
// and an even number of them where possible: enough to balance 2 to 16 threads with a static
// schedule, few enough that a call (which packs the whole other operand) stays large.
constexpr int64_t kMaxBlocks = 16;
constexpr int64_t kMinBlock = 64;
// Row and column blocks are multiples of these, so every block stays a whole number of the
// kernels' register tiles and vector widths (16 covers every x86 OpenBLAS kernel's unroll).
constexpr int64_t kRowAlign = 16;
constexpr int64_t kColumnAlign = 16;

int blas_int(int64_t v) {
  EMBER_CHECK(v <= std::numeric_limits<int>::max(), "gemm: dimension ", v,
              " is too large for a BLAS call");
  return static_cast<int>(v);
}

void single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

void call(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              blas_int(M), blas_int(N), blas_int(K), alpha, A, blas_int(lda), B, blas_int(ldb),
              beta, C, blas_int(ldc));
}
void call(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
          int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              blas_int(M), blas_int(N), blas_int(K), alpha, A, blas_int(lda), B, blas_int(ldb),
              beta, C, blas_int(ldc));
}

// How a product is cut into single-threaded calls. The cut depends on the shape alone, never on
// the thread count: OpenBLAS's kernels may round an element differently depending on where it
// falls in their register tiles (Haswell's do), so only running the very same calls, whichever
// thread runs each, makes the result independent of the thread count.
struct GemmBlocks {
  bool by_rows = true;    // split the rows of C (else its columns)
  int64_t extent = 0;     // M or N
  int64_t block = 0;      // rows or columns per call (the last call may get fewer)
  int64_t count = 1;      // number of calls
};

GemmBlocks plan_blocks(int64_t M, int64_t N, int64_t K) {
  GemmBlocks plan;
  plan.by_rows = M >= N;  // split the larger of M and N; the other operand is read whole
  plan.extent = plan.by_rows ? M : N;
  plan.block = plan.extent;
  if (M * N * std::max<int64_t>(K, 1) < kParallelMacs) return plan;  // one call
  const int64_t align = plan.by_rows ? kRowAlign : kColumnAlign;
  int64_t count = std::clamp<int64_t>(plan.extent / kMinBlock, 2, kMaxBlocks);
  count -= count % 2;  // an even count splits evenly between 2 threads
  const int64_t wanted = (plan.extent + count - 1) / count;
  plan.block = std::max(align, (wanted + align - 1) / align * align);
  plan.count = (plan.extent + plan.block - 1) / plan.block;
  return plan;
}

template <typename T>
void gemm_split(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  single_threaded_blas();
  const GemmBlocks plan = plan_blocks(M, N, K);
  auto run_block = [&](int64_t b) {
    const int64_t begin = b * plan.block, len = std::min(plan.block, plan.extent - begin);
    if (plan.by_rows) {
      // Rows begin.. of op(A): stored [M, K] -> rows; stored [K, M] (trans) -> columns.
      const T* a = ta ? A + begin : A + begin * lda;
      call(ta, tb, len, N, K, alpha, a, lda, B, ldb, beta, C + begin * ldc, ldc);
    } else {
      // Columns begin.. of op(B): stored [K, N] -> columns; stored [N, K] (trans) -> rows.
      const T* bp = tb ? B + begin * ldb : B + begin;
      call(ta, tb, M, len, K, alpha, A, lda, bp, ldb, beta, C + begin, ldc);
    }
  };
  if (plan.count == 1 || omp_in_parallel()) {
    for (int64_t b = 0; b < plan.count; ++b) run_block(b);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < plan.count; ++b) run_block(b);
}

}  // namespace

void gemm_rowmajor(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                   int64_t ldc) {
  gemm_split(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void gemm_rowmajor(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                   const double* A, int64_t lda, const double* B, int64_t ldb, double beta,
                   double* C, int64_t ldc) {
  gemm_split(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char* blas_core_name() { return openblas_get_corename(); }

}  // namespace ember::kernels::cpu
