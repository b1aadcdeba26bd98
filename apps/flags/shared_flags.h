// The flags that train_classifier and train_gan read the same way: where the EuroSAT data
// comes from (their usage texts' "data:" lines, --variant aside) and where the run goes
// ("run:"), the math mode (--exact-fp32, --precision) and --cuda-graphs. Each reader takes the current flag of a
// FlagReader loop and says whether it was one of its own. Tested through both parsers in tests/test_training_app_flags.cpp.
#pragma once

#include <cstdint>

#include "apps/flags/cli.h"

namespace ember::training {

// --data, --subset-seed, --fraction, --cache-dir, --no-cache, --threads.
template <typename Flags>
bool read_data_flag(FlagReader& r, Flags& f) {
  if (r.is("--data")) f.data = r.value();
  else if (r.is("--subset-seed")) f.subset_seed = static_cast<uint64_t>(r.int_value(0));
  else if (r.is("--fraction")) f.fraction = r.double_value(1e-6, 1.0);
  else if (r.is("--cache-dir")) f.cache_dir = r.value();
  else if (r.is_switch("--no-cache")) f.no_cache = true;
  else if (r.is("--threads")) f.threads = r.int_value(0, 1024);
  else return false;
  return true;
}

// --exact-fp32 and --precision fp32|tf32|bf16 (apps/math_mode.h): on CUDA the apps use TF32
// tensor cores in convolutions and matrix products unless --exact-fp32 (the alias of
// --precision fp32) asks for exact fp32; --precision bf16 runs them from bf16 operands
// (docs/mixed_precision.md). Contradicting each other is an error naming both.
template <typename Flags>
bool read_math_flag(FlagReader& r, Flags& f) {
  if (r.is_switch("--exact-fp32")) {
    require_flag(f.precision.empty() || f.precision == "fp32", "--exact-fp32 contradicts --precision ",
                 f.precision, " (--exact-fp32 means --precision fp32)");
    f.exact_fp32 = true;
    return true;
  }
  if (!r.is("--precision")) return false;
  f.precision = r.choice_value({"fp32", "tf32", "bf16"});
  require_flag(!f.exact_fp32 || f.precision == "fp32", "--precision ", f.precision,
               " contradicts --exact-fp32 (--exact-fp32 means --precision fp32)");
  if (f.precision == "fp32") f.exact_fp32 = true;
  return true;
}

// --cuda-graphs on|off: on CUDA, capture each training step in a CUDA graph and replay it (the
// default) or run every step eagerly (training/graphed_step.h).
template <typename Flags>
bool read_graph_flag(FlagReader& r, Flags& f) {
  if (!r.is("--cuda-graphs")) return false;
  f.train.cuda_graphs = r.choice_value({"on", "off"}) == "on";
  return true;
}

// --out, --resume, --progress-every.
template <typename Flags>
bool read_run_flag(FlagReader& r, Flags& f) {
  if (r.is("--out")) f.out = r.value();
  else if (r.is_switch("--resume")) f.train.resume = true;
  else if (r.is("--progress-every")) f.train.progress_every = r.int_value(0);
  else return false;
  return true;
}

}  // namespace ember::training
