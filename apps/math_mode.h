// The GPU math mode of the training apps (train_classifier, train_gan; the experiment passes its
// choice to them): on CUDA, TF32 tensor cores in convolutions and matrix products unless
// --exact-fp32 (or EMBER_ALLOW_TF32=0) asks for exact fp32 (kernels/backend_settings.h);
// --precision bf16 runs them from bf16 operands on either device (docs/mixed_precision.md). The
// library's default, and so every unit test, stays exact. Tested through the flag parsers
// (tests/test_training_app_flags.cpp) and allow_tf32_unless_exact (tests/test_backend_settings.cpp).
#pragma once
#include <string>

#include "kernels/backend_settings.h"
#include "kernels/precision.h"
#include "tensor/device.h"

namespace ember::apps {

// Sets the mode for a run on `device` and names it for train.log and config.json: "tf32" or
// "fp32" (on the CPU always "fp32": TF32 is a GPU feature).
// `precision` is --precision as given ("" when not): "bf16" names the bf16 mode on either
// device (on the CPU it runs the reference definition, slowly); TF32 stays as it would be
// without it for the float32 work that remains (apps open the scope with precision_of).
inline std::string use_math_mode(const Device& device, bool exact_fp32,
                                 const std::string& precision = "") {
  if (precision == "bf16") {
    if (device.is_cuda()) kernels::allow_tf32_unless_exact(false);
    return "bf16";
  }
  if (!device.is_cuda()) return "fp32";
  return kernels::allow_tf32_unless_exact(exact_fp32) ? "tf32" : "fp32";
}

// The precision scope (ops/autocast.h) a run in `mode` opens around its training.
inline Precision precision_of(const std::string& mode) {
  return mode == "bf16" ? Precision::BFloat16 : Precision::Float32;
}

inline std::string math_mode_note(const std::string& mode) {
  if (mode == "bf16")
    return "math: bf16 convolutions and matrix products (bf16 operands, float32 sums; float32 "
           "master weights, batch norm and everything else; docs/mixed_precision.md)";
  return mode == "tf32" ? "math: TF32 tensor cores in convolutions and matrix products "
                          "(--exact-fp32 for exact fp32)"
                        : "math: exact fp32";
}

}  // namespace ember::apps
