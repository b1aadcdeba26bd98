// Development aid (not built by CMake; run.sh): cuBLAS's column-major semantics are CBLAS's ColMajor ones; check the argument mapping
// used in kernels/cuda/linalg.cpp against a row-major naive product.
#include <cblas.h>
#include <cstdio>
#include <cmath>
#include <random>
#include <vector>
int main() {
  std::mt19937 rng(1); std::uniform_real_distribution<double> d(-1, 1);
  int bad = 0;
  for (int ta = 0; ta < 2; ++ta) for (int tb = 0; tb < 2; ++tb) {
    const int M = 7, N = 5, K = 3;
    std::vector<double> A(M * K), B(K * N), C(M * N), R(M * N, 0);
    for (auto& v : A) v = d(rng); for (auto& v : B) v = d(rng);
    // A stored [M,K] or [K,M] (ta); B stored [K,N] or [N,K] (tb).
    auto a = [&](int i, int k) { return ta ? A[k * M + i] : A[i * K + k]; };
    auto b = [&](int k, int j) { return tb ? B[j * K + k] : B[k * N + j]; };
    for (int i = 0; i < M; ++i) for (int j = 0; j < N; ++j) for (int k = 0; k < K; ++k) R[i * N + j] += a(i, k) * b(k, j);
    const int lda = ta ? M : K, ldb = tb ? K : N;
    cblas_dgemm(CblasColMajor, tb ? CblasTrans : CblasNoTrans, ta ? CblasTrans : CblasNoTrans, N, M, K, 1.0, B.data(), ldb, A.data(), lda, 0.0, C.data(), N);
    for (int i = 0; i < M * N; ++i) if (std::abs(C[i] - R[i]) > 1e-12) { ++bad; }
    std::printf("ta=%d tb=%d %s\n", ta, tb, bad ? "BAD" : "ok");
  }
  return bad;
}
