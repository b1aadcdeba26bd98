// The GPU math mode of the training-step benchmarks (bench_efficientnet_step, bench_gan_step):
// TF32 tensor cores in convolutions and matrix products by default, as the training apps run
// (apps/math_mode.h), and exact fp32 with --exact-fp32 (or EMBER_ALLOW_TF32=0). The mode is
// reported in the benchmark context ("math: tf32" or "math: fp32", in the console header and
// the JSON output's context), so every number names the math it was measured with.
#pragma once
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>

#include "kernels/backend_settings.h"

namespace ember::bench {

// Removes --exact-fp32 from argv (Google Benchmark refuses flags it does not know), so call it
// before benchmark::Initialize; sets the mode and records it in the context.
inline void use_math_mode(int& argc, char** argv) {
  bool exact = false;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--exact-fp32") == 0) exact = true;
    else argv[kept++] = argv[i];
  }
  argc = kept;
  const bool tf32 = kernels::allow_tf32_unless_exact(exact);
  benchmark::AddCustomContext(
      "math", tf32 ? "tf32 (CUDA convolutions and matrix products; --exact-fp32 for exact fp32)"
                   : "fp32 (exact)");
}

}  // namespace ember::bench
