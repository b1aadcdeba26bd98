// Row-major GEMM for the CPU kernels (conv.cpp, linalg.cpp), on OpenBLAS, threaded by OpenMP.
// Why not OpenBLAS's own threads: Debian's OpenBLAS runs its own pthread pool, and the other CPU
// kernels run on OpenMP's; on a 2-core machine the two pools' idle threads spin (OpenBLAS
// sched_yield()s, libgomp busy-waits) on the core the other pool needs, and a profile of the
// EfficientNetB2 step showed more time spinning and scheduling than computing
// (docs/cpu_performance.md). So OpenBLAS is set to one thread on first use and a large product is
// cut into blocks of rows (or of columns, whichever dimension is larger), shared among the OpenMP
// threads. The cut depends on the shape alone: every thread count makes the very same
// single-threaded calls, so results are bit-identical for any thread count and any OpenBLAS core
// type (a cut per thread was not: Haswell's kernels round an element differently depending on
// its place in their register tiles). Tested through conv2d and matmul
// (tests/test_conv.cpp, tests/test_shape_reduce_linalg.cpp) and directly, split by rows and by
// columns against a naive loop, in tests/test_cpu_fast_paths.cpp (CpuFastPaths.Gemm*), which
// CTest also runs under each OpenBLAS core type the CPU supports (tests/openblas_core_types.sh).
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

// The name of the core type whose kernels OpenBLAS runs (e.g. "Haswell", "SkylakeX"), as
// OpenBLAS reports it: OPENBLAS_CORETYPE or its own pick for this CPU.
const char* blas_core_name();

}  // namespace ember::kernels::cpu
