// The GPU math mode of the training-step benchmarks (bench_efficientnet_step, bench_gan_step):
// TF32 tensor cores in convolutions and matrix products by default, as the training apps run
// (apps/math_mode.h), and exact fp32 with --exact-fp32 (or EMBER_ALLOW_TF32=0). The mode is
// reported in the benchmark context ("math: tf32" or "math: fp32", in the console header and
// the JSON output's context), so every number names the math it was measured with.
// --precision bf16 measures the bf16 mode ("math: bf16").
#pragma once
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/backend_settings.h"
#include "ops/autocast.h"

namespace ember::bench {

// Removes --exact-fp32 and --precision fp32|tf32|bf16 from argv (Google Benchmark refuses flags
// it does not know), so call it before benchmark::Initialize; sets the mode and records it in
// the context. --precision fp32 is --exact-fp32; --precision bf16 (docs/mixed_precision.md)
// opens a bf16 precision scope on the calling thread, which runs the benchmarks, until exit.
// Contradicting flags, or an unknown precision, end the program with a message naming them.
inline void use_math_mode(int& argc, char** argv) {
  bool exact = false;
  std::string precision;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--exact-fp32") == 0) {
      exact = true;
    } else if (std::strcmp(argv[i], "--precision") == 0 && i + 1 < argc) {
      precision = argv[++i];
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  auto refuse = [](const std::string& message) {
    std::fprintf(stderr, "%s\n", message.c_str());
    std::exit(2);  // a benchmark program's command line, not library code
  };
  if (!precision.empty() && precision != "fp32" && precision != "tf32" && precision != "bf16")
    refuse("--precision must be fp32, tf32 or bf16, got " + precision);
  if (exact && !precision.empty() && precision != "fp32")
    refuse("--exact-fp32 contradicts --precision " + precision +
           " (--exact-fp32 means --precision fp32)");
  exact = exact || precision == "fp32";
  const bool tf32 = kernels::allow_tf32_unless_exact(exact);
  if (precision == "bf16") {
    static const PrecisionScope bf16(Precision::BFloat16);
    benchmark::AddCustomContext(
        "math", "bf16 (convolutions and matrix products from bf16 operands, float32 sums; "
                "docs/mixed_precision.md)");
    return;
  }
  benchmark::AddCustomContext(
      "math", tf32 ? "tf32 (CUDA convolutions and matrix products; --exact-fp32 for exact fp32)"
                   : "fp32 (exact)");
}

}  // namespace ember::bench
