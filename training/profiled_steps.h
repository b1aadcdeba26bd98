// The apps' profiling of chosen training steps (tensor/profiler.h; docs/profiler.md): with
// EMBER_PROFILE=<path.json> set, a profiler session records the steps EMBER_PROFILE_STEPS
// chooses (counted from 1 over the run), each inside a "step N" range, and writes the trace and
// its table (path.json, path.csv) after the last of them. Unset: nothing is recorded or written.
//
//   steps.begin_step();
//   train_step(...);                                     // the step body, untouched
//   if (auto line = steps.end_step(); !line.empty()) log.line(line);
//
// A run that ends before the last chosen step writes what it recorded through finish().
// Tested in tests/test_profiler.cpp.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tensor/profiler.h"

namespace ember::training {

class ProfiledSteps {
 public:
  explicit ProfiledSteps(std::optional<profiler::Settings> settings);  // nullopt: off
  ~ProfiledSteps();
  ProfiledSteps(const ProfiledSteps&) = delete;
  ProfiledSteps& operator=(const ProfiledSteps&) = delete;

  bool enabled() const { return settings_.has_value(); }
  void begin_step();
  // After each step: "" or, after the last chosen step, the line saying where the trace went.
  std::string end_step();
  // Writes a session still recording (the run ended early); "" when there was none.
  std::string finish();

 private:
  std::string write();

  std::optional<profiler::Settings> settings_;
  int64_t step_ = 0;  // steps begun so far
  std::string range_name_;  // the open range's name (the range keeps a pointer to it)
  std::unique_ptr<profiler::Session> session_;
  std::unique_ptr<profiler::Range> range_;
};

}  // namespace ember::training
