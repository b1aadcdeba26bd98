// apps/flags/cli.h (flag reading) and tensor/atomic_file.h: values, ranges, choices, and the
// error text for each kind of mistake; atomic replacement keeps the old file on failure.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tensor/atomic_file.h"
#include "tests/expect_error.h"
#include "apps/flags/cli.h"

namespace ember {
namespace {

using training::FlagError;
using training::FlagReader;

// Runs a reader over `args` ("prog" prepended) reading --n (int >= 1), --x (double), --mode
// (a|b) and the switch --on; returns the error text, or "" when none.
std::string parse(std::vector<std::string> args, int64_t* n = nullptr, bool* on = nullptr) {
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  try {
    FlagReader r(static_cast<int>(argv.size()), argv.data());
    while (r.next()) {
      if (r.is("--n")) {
        const int64_t v = r.int_value(1, 10);
        if (n) *n = v;
      } else if (r.is("--zero-to-ten")) {
        r.int_value(0, 10);  // a lower bound of 0 (infinity() is 0 for integers)
      } else if (r.is("--x")) {
        r.double_value(0.0, 1.0);
      } else if (r.is("--low")) {
        r.double_value(0.0);
      } else if (r.is("--mode")) {
        r.choice_value({"a", "b"});
      } else if (r.is_switch("--on")) {
        if (on) *on = true;
      } else {
        r.unknown();
      }
    }
  } catch (const FlagError& e) {
    return e.what();
  }
  return "";
}

TEST(TrainingCli, ReadsValues) {
  int64_t n = 0;
  bool on = false;
  EXPECT_EQ(parse({"--n", "7", "--on", "--x", "0.5", "--mode", "b"}, &n, &on), "");
  EXPECT_EQ(n, 7);
  EXPECT_TRUE(on);
}

TEST(TrainingCli, Mistakes) {
  EXPECT_EQ(parse({"--bogus"}), "unknown flag '--bogus'");
  EXPECT_EQ(parse({"--n"}), "--n needs a value");
  EXPECT_EQ(parse({"--n", "3x"}), "--n: expected an integer, got '3x'");
  EXPECT_EQ(parse({"--n", ""}), "--n: expected an integer, got ''");
  EXPECT_EQ(parse({"--n", "11"}), "--n must be in [1, 10], got 11");
  EXPECT_EQ(parse({"--zero-to-ten", "-1"}), "--zero-to-ten must be in [0, 10], got -1");
  EXPECT_EQ(parse({"--x", "abc"}), "--x: expected a number, got 'abc'");
  EXPECT_EQ(parse({"--x", "2"}), "--x must be in [0, 1], got 2");
  EXPECT_EQ(parse({"--low", "-3"}), "--low must be >= 0, got -3");
  EXPECT_EQ(parse({"--mode", "c"}), "--mode must be one of a, b, got 'c'");
  EXPECT_EQ(parse({"stray"}), "unexpected argument 'stray' (flags start with --)");
}

TEST(TrainingCli, NumbersAreWholeStrings) {
  // std::stoll and std::stod skip leading white space; a flag value may not have any.
  EXPECT_EQ(parse({"--n", " 3"}), "--n: expected an integer, got ' 3'");
  EXPECT_EQ(parse({"--n", "\t3"}), "--n: expected an integer, got '\t3'");
  EXPECT_EQ(parse({"--n", "3 "}), "--n: expected an integer, got '3 '");
  EXPECT_EQ(parse({"--x", " 0.5"}), "--x: expected a number, got ' 0.5'");
  EXPECT_EQ(parse({"--x", "\n0.5"}), "--x: expected a number, got '\n0.5'");
}

std::string list_error(const std::string& text) {
  try {
    training::parse_names("--stages", text, {"a", "b", "c"}, "stage");
  } catch (const FlagError& e) {
    return e.what();
  }
  return "";
}

TEST(TrainingCli, ListsHaveNoEmptyItems) {
  EXPECT_EQ(training::split_list("--l", "a,b"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(list_error("a,c"), "");
  EXPECT_EQ(list_error(""), "--stages: expected a comma-separated list, got ''");
  EXPECT_EQ(list_error("a,,b"), "--stages: expected a comma-separated list, got 'a,,b' (an empty item)");
  EXPECT_EQ(list_error("a,"), "--stages: expected a comma-separated list, got 'a,' (an empty item)");
  EXPECT_EQ(list_error("a,d"), "--stages: unknown stage 'd' (choose from a, b, c)");
  EXPECT_EQ(list_error("b,b"), "--stages: 'b' given twice");
}

TEST(TrainingCli, DeviceSpellingIsParsedWithoutAskingForTheGpu) {
  // A parser checks command lines for later (the experiment's units): "cuda" parses here
  // whether or not a GPU is visible, and require_visible_device is the question asked at run.
  Device device = Device::cpu();
  {
    std::vector<std::string> args = {"--device", "cuda"};
    FlagReader r(args);
    ASSERT_TRUE(r.next());
    device = r.device_value();
  }
  EXPECT_TRUE(device.is_cuda());
  std::vector<std::string> bad = {"--device", "tpu"};
  FlagReader r(bad);
  ASSERT_TRUE(r.next());
  EXPECT_THROW(r.device_value(), FlagError);
  training::require_visible_device("--device", Device::cpu());
  if (!cuda_available()) {
    EXPECT_THROW(training::require_visible_device("--device", device), FlagError);
  }
}

TEST(TrainingCli, RunCliMainExitCodes) {
  EXPECT_EQ(training::run_cli_main("p", "u", [] { return 0; }), 0);
  EXPECT_EQ(training::run_cli_main("p", "u", []() -> int { throw FlagError("bad"); }), 2);
  EXPECT_EQ(training::run_cli_main("p", "u", []() -> int { EMBER_FAIL("data"); }), 1);
}

TEST(AtomicFile, ReplacesAndKeepsOldOnFailure) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("ember_atomic_" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/f.txt";
  write_file_atomically(path, "one");
  write_file_atomically(path, "two");
  EXPECT_EQ(read_file(path), "two");
  // A missing folder fails at the temporary file; the error names the target.
  EXPECT_ERROR_MENTIONS(write_file_atomically(dir + "/no/such/f.txt", "x"), "no/such/f.txt");
  EXPECT_EQ(read_file(path), "two");
  EXPECT_ERROR_MENTIONS(read_file(dir + "/missing"), "missing");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ember
