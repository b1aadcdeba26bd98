// Row-major GEMM for the CPU kernels (conv.cpp, linalg.cpp), on OpenBLAS, threaded by OpenMP.
// Why not OpenBLAS's own threads: Debian's OpenBLAS runs its own pthread pool, and the other CPU
// kernels run on OpenMP's; on a 2-core machine the two pools' idle threads spin (OpenBLAS
// sched_yield()s, libgomp busy-waits) on the core the other pool needs, and a profile of the
// EfficientNetB2 step showed more time spinning and scheduling than computing
// (docs/cpu_performance.md). So OpenBLAS is set to one thread on first use and the product is
// cut into one block of rows (or of columns, whichever dimension is larger) per OpenMP thread.
// Each output element is still computed by one single-threaded call over the full reduction
// dimension, so results do not depend on the thread count. Tested through conv2d and matmul
// (tests/test_conv.cpp, tests/test_shape_reduce_linalg.cpp) and directly, split by rows and by
// columns against a naive loop, in tests/test_cpu_fast_paths.cpp (CpuFastPaths.Gemm*).
#pragma once
#include <cstdint>

namespace ember::kernels::cpu {

// C [M, N] = alpha * op(A) * op(B) + beta * C, all row-major; op(A) is [M, K] (stored [K, M]
// with leading dimension lda when trans_a), op(B) is [K, N] (stored [N, K] when trans_b).
// M, N > 0; K may be 0 (then C = beta * C).
void gemm_rowmajor(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                   int64_t ldc);
void gemm_rowmajor(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                   const double* A, int64_t lda, const double* B, int64_t ldb, double beta,
                   double* C, int64_t ldc);

}  // namespace ember::kernels::cpu
