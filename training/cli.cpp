// Flag reading for the apps (see cli.h).
#include "training/cli.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>

#include "tensor/tensor.h"

namespace ember::training {

FlagReader::FlagReader(int argc, char** argv) : args_(argv + std::min(argc, 1), argv + argc) {}

bool FlagReader::next() {
  if (next_ >= args_.size()) return false;
  flag_ = args_[next_++];
  if (flag_ == "--help" || flag_ == "-h") {
    help_ = true;
    return next();
  }
  require_flag(flag_.rfind("--", 0) == 0, "unexpected argument '", flag_,
               "' (flags start with --)");
  return true;
}

std::string FlagReader::value() {
  require_flag(next_ < args_.size(), flag_, " needs a value");
  return args_[next_++];
}

namespace {

// "must be in [a, b]", or "must be >= a" / "must be <= b" when the other side is open.
template <typename T>
void check_range(const std::string& flag, T v, T min, T max, const std::string& text) {
  if (v >= min && v <= max) return;
  const bool open_low = min == std::numeric_limits<T>::lowest() ||
                        min == -std::numeric_limits<T>::infinity();
  const bool open_high = max == std::numeric_limits<T>::max() ||
                         max == std::numeric_limits<T>::infinity();
  if (open_high) throw FlagError(detail::concat(flag, " must be >= ", min, ", got ", text));
  if (open_low) throw FlagError(detail::concat(flag, " must be <= ", max, ", got ", text));
  throw FlagError(detail::concat(flag, " must be in [", min, ", ", max, "], got ", text));
}

}  // namespace

int64_t FlagReader::int_value(int64_t min, int64_t max) {
  const std::string text = value();
  const int64_t v = parse_int(flag_, text);
  check_range(flag_, v, min, max, text);
  return v;
}

double FlagReader::double_value(double min, double max) {
  const std::string text = value();
  const double v = parse_double(flag_, text);
  check_range(flag_, v, min, max, text);
  return v;
}

std::string FlagReader::choice_value(const std::vector<std::string>& choices) {
  const std::string v = value();
  if (std::find(choices.begin(), choices.end(), v) != choices.end()) return v;
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  throw FlagError(detail::concat(flag_, " must be one of ", list, ", got '", v, "'"));
}

Device FlagReader::device_value() {
  const std::string v = value();
  require_flag(v == "cpu" || v == "cuda" || v.rfind("cuda:", 0) == 0, flag_,
               " must be cpu, cuda or cuda:N, got '", v, "'");
  Device device = Device::cpu();
  try {
    device = Device::parse(v);
  } catch (const std::exception&) {
    throw FlagError(detail::concat(flag_, ": cannot parse the device '", v, "'"));
  }
  require_flag(!device.is_cuda() || cuda_available(), flag_, " ", v, ": no GPU is visible",
               built_with_cuda() ? "" : " (this build has no CUDA backend)");
  return device;
}

void FlagReader::exit_if_help(const char* usage) const {
  if (!help_) return;
  std::printf("%s%s", usage, *usage && usage[std::strlen(usage) - 1] == '\n' ? "" : "\n");
  std::exit(0);
}

void FlagReader::unknown() const { throw FlagError(detail::concat("unknown flag '", flag_, "'")); }

int64_t parse_int(const std::string& what, const std::string& text) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  require_flag(!text.empty() && used == text.size(), what, ": expected an integer, got '", text,
               "'");
  return v;
}

double parse_double(const std::string& what, const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  require_flag(!text.empty() && used == text.size(), what, ": expected a number, got '", text,
               "'");
  return v;
}

int run_cli_main(const char* program, const char* usage, const std::function<int()>& body) {
  try {
    return body();
  } catch (const FlagError& e) {
    std::fprintf(stderr, "%s: %s\n%s\n", program, e.what(), usage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace ember::training
