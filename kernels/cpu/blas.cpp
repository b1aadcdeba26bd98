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
// Column blocks are multiples of this, so every thread's block stays a whole number of the
// kernels' vector widths.
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

template <typename T>
void gemm_split(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  single_threaded_blas();
  const int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads <= 1 || M * N * std::max<int64_t>(K, 1) < kParallelMacs) {
    call(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Split the larger of M and N; the other operand is read whole by every thread.
  const bool by_rows = M >= N;
  const int64_t extent = by_rows ? M : N;
  const int64_t align = by_rows ? 1 : kColumnAlign;
  const int64_t block = (extent / threads + align) / align * align;  // >= ceil(extent / threads)
  const int64_t blocks = (extent + block - 1) / block;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = b * block, len = std::min(block, extent - begin);
    if (by_rows) {
      // Rows begin.. of op(A): stored [M, K] -> rows; stored [K, M] (trans) -> columns.
      const T* a = ta ? A + begin : A + begin * lda;
      call(ta, tb, len, N, K, alpha, a, lda, B, ldb, beta, C + begin * ldc, ldc);
    } else {
      // Columns begin.. of op(B): stored [K, N] -> columns; stored [N, K] (trans) -> rows.
      const T* bp = tb ? B + begin * ldb : B + begin;
      call(ta, tb, M, len, K, alpha, A, lda, bp, ldb, beta, C + begin, ldc);
    }
  }
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

}  // namespace ember::kernels::cpu
