#include "kernels/backend_settings.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "tensor/error.h"

namespace ember::kernels {

namespace {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

DepthwiseImpl env_depthwise() {
  const char* v = std::getenv("EMBER_DEPTHWISE");
  if (!v || !*v) return DepthwiseImpl::Ember;
  const std::string s(v);
  if (s == "ember") return DepthwiseImpl::Ember;
  if (s == "cudnn") return DepthwiseImpl::Cudnn;
  EMBER_FAIL("EMBER_DEPTHWISE must be 'ember' or 'cudnn', got '", s, "'");
}

BackendSettings& settings() {
  static BackendSettings s = [] {
    BackendSettings init;
    init.allow_tf32 = env_flag("EMBER_ALLOW_TF32");
    init.deterministic = env_flag("EMBER_DETERMINISTIC");
    init.conv_autotune = env_flag("EMBER_CONV_AUTOTUNE");
    init.depthwise_impl = env_depthwise();
    return init;
  }();
  return s;
}

}  // namespace

const BackendSettings& backend_settings() { return settings(); }
void set_allow_tf32(bool on) { settings().allow_tf32 = on; }
void set_deterministic(bool on) { settings().deterministic = on; }
void set_conv_autotune(bool on) { settings().conv_autotune = on; }
void set_depthwise_impl(DepthwiseImpl impl) { settings().depthwise_impl = impl; }

bool allow_tf32_unless_exact(bool exact_fp32) {
  const char* env = std::getenv("EMBER_ALLOW_TF32");
  const bool on = !exact_fp32 && (env && *env ? env_flag("EMBER_ALLOW_TF32") : true);
  set_allow_tf32(on);
  return on;
}

BackendSettingsGuard::~BackendSettingsGuard() { settings() = saved_; }

}  // namespace ember::kernels
