// The check of every unit's command line before the experiment runs (experiment/validate.h).
#include "experiment/validate.h"

#include "tensor/error.h"
#include "apps/flags/augment_flags.h"
#include "apps/flags/classifier_flags.h"
#include "apps/flags/cli.h"
#include "apps/flags/gan_flags.h"
#include "apps/flags/generate_flags.h"
#include "apps/flags/quality_flags.h"

namespace ember::experiment {

namespace {

// The flag an app's error is about: messages start with it ("--batch must be ...") or quote
// it ("unknown flag '--bogus'"); "" when neither.
std::string flag_of(const std::string& message) {
  size_t begin = message.rfind("--", 0) == 0 ? 0 : message.find("'--");
  if (begin == std::string::npos) return "";
  if (message[begin] == '\'') ++begin;
  const size_t end = message.find_first_of(" :(',", begin);
  return message.substr(begin, end == std::string::npos ? end : end - begin);
}

}  // namespace

void check_app_flags(const std::string& program, const std::vector<std::string>& args) {
  using namespace training;
  if (program == "train_classifier") check_classifier_inputs(parse_classifier_flags(args));
  else if (program == "train_gan") parse_gan_flags(args);
  else if (program == "generate") parse_generate_flags(args);
  else if (program == "build_augmented") parse_augment_flags(args);
  else if (program == "gan_quality") parse_quality_flags(args);
  else EMBER_FAIL("no flag check for the program '", program, "'");
}

void validate_plan(const std::vector<Unit>& plan, const std::filesystem::path& out,
                   const std::string& device) {
  for (const Unit& u : plan) {
    if (u.program.empty()) continue;  // in-process steps take the typed config
    try {
      check_app_flags(u.program, unit_command(u, out, device, /*resume=*/false));
    } catch (const training::FlagError& e) {
      const auto key = u.flag_keys.find(flag_of(e.what()));
      const std::string where = u.program + " in unit " + u.id;
      throw training::FlagError(key == u.flag_keys.end()
                                    ? detail::concat(where, ": ", e.what())
                                    : detail::concat("config '", key->second, "' (", where,
                                                     "): ", e.what()));
    }
  }
}

}  // namespace ember::experiment
