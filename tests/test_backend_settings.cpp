// allow_tf32_unless_exact (kernels/backend_settings.h), the training apps' and GPU benchmarks'
// math default: TF32 unless --exact-fp32, with EMBER_ALLOW_TF32 in the environment deciding
// when it is set; and the library's own default, which the tests rely on, stays exact.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "kernels/backend_settings.h"

namespace ember {
namespace {

// Sets (or unsets, with nullopt) EMBER_ALLOW_TF32 for one scope, restoring it afterwards.
class Tf32Env {
 public:
  explicit Tf32Env(const std::optional<std::string>& value) {
    if (const char* old = std::getenv(kName)) saved_ = old;
    if (value) ::setenv(kName, value->c_str(), 1);
    else ::unsetenv(kName);
  }
  ~Tf32Env() {
    if (saved_) ::setenv(kName, saved_->c_str(), 1);
    else ::unsetenv(kName);
  }

 private:
  static constexpr const char* kName = "EMBER_ALLOW_TF32";
  std::optional<std::string> saved_;
};

TEST(BackendSettings, TrainingAppsDefaultToTf32UnlessExact) {
  const kernels::BackendSettingsGuard restore;
  {
    const Tf32Env env(std::nullopt);
    EXPECT_TRUE(kernels::allow_tf32_unless_exact(false));
    EXPECT_TRUE(kernels::backend_settings().allow_tf32);
    EXPECT_FALSE(kernels::allow_tf32_unless_exact(true));
    EXPECT_FALSE(kernels::backend_settings().allow_tf32);
  }
  {
    const Tf32Env env(std::string("0"));  // the environment asks for exact fp32
    EXPECT_FALSE(kernels::allow_tf32_unless_exact(false));
    EXPECT_FALSE(kernels::backend_settings().allow_tf32);
  }
  {
    const Tf32Env env(std::string("1"));  // --exact-fp32 wins over the environment
    EXPECT_TRUE(kernels::allow_tf32_unless_exact(false));
    EXPECT_FALSE(kernels::allow_tf32_unless_exact(true));
  }
}

TEST(BackendSettings, TheTestsRunExact) {
  // The test binary never calls allow_tf32_unless_exact outside a guard, so unless the
  // environment opts in, the library default holds: exact fp32.
  const char* env = std::getenv("EMBER_ALLOW_TF32");
  if (env && *env && std::string(env) != "0") GTEST_SKIP() << "EMBER_ALLOW_TF32 is set";
  EXPECT_FALSE(kernels::backend_settings().allow_tf32);
}

}  // namespace
}  // namespace ember
