// Flag reading for the apps (see cli.h).
#include "apps/flags/cli.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>

#include "tensor/tensor.h"

namespace ember::training {

FlagReader::FlagReader(int argc, char** argv) : args_(argv + std::min(argc, 1), argv + argc) {}

FlagReader::FlagReader(std::vector<std::string> args) : args_(std::move(args)) {}

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
  // infinity() is 0 for integers: only a floating-point bound can be infinite.
  constexpr bool has_inf = std::numeric_limits<T>::has_infinity;
  const bool open_low = min == std::numeric_limits<T>::lowest() ||
                        (has_inf && min == -std::numeric_limits<T>::infinity());
  const bool open_high = max == std::numeric_limits<T>::max() ||
                         (has_inf && max == std::numeric_limits<T>::infinity());
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
  try {
    return Device::parse(v);
  } catch (const std::exception&) {
    throw FlagError(detail::concat(flag_, ": cannot parse the device '", v, "'"));
  }
}

void require_visible_device(const std::string& flag, const Device& device) {
  require_flag(!device.is_cuda() || cuda_available(), flag, " ", device.str(),
               ": no GPU is visible", built_with_cuda() ? "" : " (this build has no CUDA backend)");
}

void FlagReader::exit_if_help(const char* usage) const {
  if (!help_) return;
  print_usage(usage);
  std::exit(0);
}

void FlagReader::unknown() const { throw FlagError(detail::concat("unknown flag '", flag_, "'")); }

namespace {

// std::stoll and std::stod skip leading white space; a flag value must not have any.
bool starts_with_space(const std::string& text) {
  return !text.empty() && std::isspace(static_cast<unsigned char>(text[0]));
}

}  // namespace

int64_t parse_int(const std::string& what, const std::string& text) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  require_flag(!text.empty() && !starts_with_space(text) && used == text.size(), what,
               ": expected an integer, got '", text, "'");
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
  require_flag(!text.empty() && !starts_with_space(text) && used == text.size(), what,
               ": expected a number, got '", text, "'");
  return v;
}

std::vector<std::string> split_list(const std::string& what, const std::string& text) {
  std::vector<std::string> items;
  size_t begin = 0;
  for (;;) {
    const size_t comma = text.find(',', begin);
    items.push_back(text.substr(begin, comma == std::string::npos ? comma : comma - begin));
    require_flag(!items.back().empty(), what, ": expected a comma-separated list, got '", text,
                 "'", text.empty() ? "" : " (an empty item)");
    if (comma == std::string::npos) return items;
    begin = comma + 1;
  }
}

std::vector<std::string> parse_names(const std::string& what, const std::string& text,
                                     const std::vector<std::string>& known, const char* noun) {
  const std::vector<std::string> names = split_list(what, text);
  for (size_t i = 0; i < names.size(); ++i) {
    if (std::find(known.begin(), known.end(), names[i]) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw FlagError(detail::concat(what, ": unknown ", noun, " '", names[i], "' (choose from ",
                                     list, ")"));
    }
    for (size_t j = 0; j < i; ++j)
      require_flag(names[j] != names[i], what, ": '", names[i], "' given twice");
  }
  return names;
}

std::vector<std::string> cli_args(int argc, char** argv) {
  return std::vector<std::string>(argv + std::min(argc, 1), argv + argc);
}

int print_usage(const char* usage) {
  std::printf("%s%s", usage, *usage && usage[std::strlen(usage) - 1] == '\n' ? "" : "\n");
  return 0;
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
