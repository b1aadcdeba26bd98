// Process-wide switches of the GPU math libraries, read by the cuBLAS and cuDNN wrappers
// (kernels/cuda/). Defaults are the exact, reproducible choices; speed-ups are opt-in.
//   allow_tf32:     let cuBLAS GEMMs and cuDNN convolutions round float32 inputs to TF32
//                   (tensor cores). Off: exact fp32 math.
//   deterministic:  only pick cuDNN algorithms whose results do not vary from run to run.
//   conv_autotune:  time the candidate cuDNN algorithms once per problem key (cudnnFind...)
//                   instead of trusting cuDNN's heuristics.
//   depthwise_impl: which depthwise convolution runs on the GPU (bench/bench_conv_cuda.cpp
//                   measures both on EfficientNetB2's shapes).
// Each also has an environment variable read once at start-up (EMBER_ALLOW_TF32=1,
// EMBER_DETERMINISTIC=1, EMBER_CONV_AUTOTUNE=1, EMBER_DEPTHWISE=cudnn|ember); the setters
// override it. Settings are part of every cached plan's key, so changing one never reuses a
// plan chosen under another.
#pragma once

namespace ember::kernels {

enum class DepthwiseImpl { Ember, Cudnn };

struct BackendSettings {
  bool allow_tf32 = false;
  bool deterministic = false;
  bool conv_autotune = false;
  DepthwiseImpl depthwise_impl = DepthwiseImpl::Ember;
};

const BackendSettings& backend_settings();
void set_allow_tf32(bool on);
void set_deterministic(bool on);
void set_conv_autotune(bool on);
void set_depthwise_impl(DepthwiseImpl impl);

// The default of the training apps and the GPU benchmarks, which run for speed (the library's
// own default, and so every test, stays exact fp32): TF32 on, unless `exact_fp32` (their
// --exact-fp32 flag) asks for exact math, or EMBER_ALLOW_TF32 is set in the environment, whose
// value then decides as it does for every other program. Returns whether TF32 is now on.
bool allow_tf32_unless_exact(bool exact_fp32);

// Restores the previous settings when it goes out of scope (for tests and benchmarks).
class BackendSettingsGuard {
 public:
  BackendSettingsGuard() : saved_(backend_settings()) {}
  ~BackendSettingsGuard();
  BackendSettingsGuard(const BackendSettingsGuard&) = delete;
  BackendSettingsGuard& operator=(const BackendSettingsGuard&) = delete;

 private:
  BackendSettings saved_;
};

}  // namespace ember::kernels
