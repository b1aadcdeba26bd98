// Family `linalg`: kernels/cuda/linalg.cpp (cuda::gemm, a row-major product handed to cuBLAS as
// the column-major product of the transposes) compiled unchanged against the CBLAS stand-in for
// cuBLAS (shim/kernels/cuda/cublas_context.h, which follows cuBLAS's column-major convention and
// rejects short leading dimensions), against the CPU reference kernels::cpu::gemm: every
// trans_a / trans_b pair, non-square shapes (a swapped m / n or a wrong leading dimension shows
// up), batches, M or N of 1, the K == 0 memset path, and the compute type chosen (exact fp32
// unless allow_tf32; 64F for float64), and the bf16 precision (bf16 copies of A and B made by
// tensor/cuda/copy.cu, CUDA_R_16BF operands, float32 output) against cpu::gemm's definition.
#include "check.h"
#include "kernels/backend_settings.h"
#include "kernels/cuda/cublas_context.h"  // the shim's: emu::last_gemm_compute
#include "kernels/linalg.h"

using namespace ember;
using namespace ember::kernels;
using namespace emu_check;

void check_linalg() {
  section("linalg.cpp (cuBLAS argument mapping, on CBLAS)");
  struct Size { int64_t batch, M, N, K; };
  const Size sizes[] = {{1, 7, 5, 3}, {3, 4, 6, 5}, {2, 1, 9, 4}, {1, 6, 1, 1}, {2, 3, 4, 0}};
  for (DType dt : {DType::Float32, DType::Float64}) {
    const double tol = dt == DType::Float32 ? 1e-6 : 1e-14;
    for (const Size& z : sizes)
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          const Shape as = ta ? Shape{z.batch, z.K, z.M} : Shape{z.batch, z.M, z.K};
          const Shape bs = tb ? Shape{z.batch, z.N, z.K} : Shape{z.batch, z.K, z.N};
          const Tensor a = rnd(as, 71, dt), b = rnd(bs, 72, dt);
          Tensor want = empty({z.batch, z.M, z.N}, {dt});
          Tensor got = rnd({z.batch, z.M, z.N}, 73, dt);  // garbage that must be overwritten
          cpu::gemm(want, a, b, ta, tb, z.batch, z.M, z.N, z.K);
          const std::string what =
              "gemm batch " + std::to_string(z.batch) + " M" + std::to_string(z.M) + " N" +
                  std::to_string(z.N) + " K" + std::to_string(z.K) + (ta ? " A^T" : " A") +
                  (tb ? " B^T " : " B ") + dt_name(dt);
          // cuBLAS (the stand-in) refusing the arguments fails this case, not the family.
          const std::string error = message_of(
              [&] { kernels::cuda::gemm(got, a, b, ta, tb, z.batch, z.M, z.N, z.K); });
          if (!error.empty()) {
            ++cases, ++failures;
            std::printf("FAIL %-58s %s\n", what.c_str(), error.c_str());
            continue;
          }
          cmp(got, want, tol, tol, what);
        }
  }
  // The bf16 precision: the same shapes, against the CPU's definition (rounded operands, float32
  // sums). Only the summation order may differ, as in float32.
  for (const Size& z : sizes)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const DType dt = DType::Float32;
        const Shape as = ta ? Shape{z.batch, z.K, z.M} : Shape{z.batch, z.M, z.K};
        const Shape bs = tb ? Shape{z.batch, z.N, z.K} : Shape{z.batch, z.K, z.N};
        const Tensor a = rnd(as, 81, dt), b = rnd(bs, 82, dt);
        Tensor want = empty({z.batch, z.M, z.N}, {dt});
        Tensor got = rnd({z.batch, z.M, z.N}, 83, dt);
        cpu::gemm(want, a, b, ta, tb, z.batch, z.M, z.N, z.K, Precision::BFloat16);
        const std::string what = "gemm bf16 batch " + std::to_string(z.batch) + " M" +
                                 std::to_string(z.M) + " N" + std::to_string(z.N) + " K" +
                                 std::to_string(z.K) + (ta ? " A^T" : " A") +
                                 (tb ? " B^T" : " B");
        const std::string error = message_of([&] {
          kernels::cuda::gemm(got, a, b, ta, tb, z.batch, z.M, z.N, z.K, Precision::BFloat16);
        });
        if (!error.empty()) {
          ++cases, ++failures;
          std::printf("FAIL %-58s %s\n", what.c_str(), error.c_str());
          continue;
        }
        cmp(got, want, 1e-6, 1e-6, what);
      }
  // The compute type: exact fp32 by default, TF32 only when allowed, 64F for float64.
  auto compute_of = [](DType dt, bool tf32) {
    BackendSettingsGuard restore;
    set_allow_tf32(tf32);
    const Tensor a = rnd({1, 2, 3}, 74, dt), b = rnd({1, 3, 2}, 75, dt);
    kernels::cuda::gemm(empty({1, 2, 2}, {dt}), a, b, false, false, 1, 2, 2, 3);
    return emu::last_gemm_compute;
  };
  const std::pair<const char*, bool> checks[] = {
      {"gemm float32 computes in exact fp32 by default",
       compute_of(DType::Float32, false) == CUBLAS_COMPUTE_32F},
      {"gemm float32 computes in TF32 when allow_tf32",
       compute_of(DType::Float32, true) == CUBLAS_COMPUTE_32F_FAST_TF32},
      {"gemm float64 computes in 64F, allow_tf32 or not",
       compute_of(DType::Float64, true) == CUBLAS_COMPUTE_64F}};
  for (const auto& [what, ok] : checks) {
    ++cases;
    if (!ok) ++failures;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  }
}
