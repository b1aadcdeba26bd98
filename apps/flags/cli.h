// Command-line flags for the apps: a small reader over argv with whole-string numeric parses
// and errors that name the flag, so every program rejects bad input the same way (exit status
// 2 with the usage line; see run_cli_main). Flags are "--name value" or bare switches.
//
//   FlagReader flags(argc, argv);
//   while (flags.next()) {
//     if (flags.is("--epochs")) epochs = flags.int_value(1);
//     else if (flags.is_switch("--resume")) resume = true;
//     else flags.unknown();
//   }
//
// Tested in tests/test_training_cli.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/error.h"

namespace ember::training {

// A mistake on the command line (reported with the usage line, exit status 2).
struct FlagError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename... Parts>
void require_flag(bool ok, const Parts&... parts) {
  if (!ok) throw FlagError(detail::concat(parts...));
}

class FlagReader {
 public:
  FlagReader(int argc, char** argv);
  // The flags alone, without the program name (what an app's parse_*_flags takes).
  explicit FlagReader(std::vector<std::string> args);

  // Advances to the next flag; false at the end. "--help"/"-h" sets help() instead.
  bool next();
  const std::string& flag() const { return flag_; }
  bool help_requested() const { return help_; }
  // After the loop: when --help was given, prints `usage` to stdout and exits with status 0.
  // For programs only: library parsers report help_requested() and let the app exit.
  void exit_if_help(const char* usage) const;

  // True when the current flag is `name` (and then it takes a value).
  bool is(const std::string& name) const { return flag_ == name; }
  // True when the current flag is the switch `name` (no value).
  bool is_switch(const std::string& name) const { return flag_ == name; }

  // The current flag's value, consumed from argv ("--x" at the end is an error).
  std::string value();
  int64_t int_value(int64_t min = std::numeric_limits<int64_t>::min(),
                    int64_t max = std::numeric_limits<int64_t>::max());
  double double_value(double min = -std::numeric_limits<double>::infinity(),
                      double max = std::numeric_limits<double>::infinity());
  // One of `choices`, else an error listing them.
  std::string choice_value(const std::vector<std::string>& choices);
  // "cpu", "cuda" or "cuda:N". Only the spelling: whether the GPU is there is asked by
  // require_visible_device, so a parser can check a command line for another machine or
  // for later (the experiment checks every unit's flags before the first one runs).
  Device device_value();

  [[noreturn]] void unknown() const;

 private:
  std::vector<std::string> args_;
  size_t next_ = 0;
  std::string flag_;
  bool help_ = false;
};

// Whole-string parses ("12abc", " 3" and "" are errors naming `what`).
int64_t parse_int(const std::string& what, const std::string& text);
double parse_double(const std::string& what, const std::string& text);

// "a,b,c" -> {a, b, c}; an empty list or an empty item ("a,,b", "a,") is an error naming `what`.
std::vector<std::string> split_list(const std::string& what, const std::string& text);

// A list of names from `known` (split_list), none given twice; an error says "unknown <noun>"
// and lists the known ones.
std::vector<std::string> parse_names(const std::string& what, const std::string& text,
                                     const std::vector<std::string>& known, const char* noun);

// A CUDA `device` must be visible here (a FlagError naming `flag` otherwise; cpu always is).
void require_visible_device(const std::string& flag, const Device& device);

// argv[1..argc) as strings: what the apps' parse_*_flags functions take.
std::vector<std::string> cli_args(int argc, char** argv);

// Prints `usage` to stdout (for --help) and returns 0, the exit status.
int print_usage(const char* usage);

// Runs body(): returns its status; a FlagError prints "<program>: <message>" and the usage to
// stderr and returns 2; any other exception prints "<program>: <message>" and returns 1.
int run_cli_main(const char* program, const char* usage, const std::function<int()>& body);

}  // namespace ember::training
