// Child processes for the experiment's units: one app run, its stdout and stderr appended to a
// log file, optionally pinned to one GPU (CUDA_VISIBLE_DEVICES). On Linux a child is killed
// when the runner dies (PR_SET_PDEATHSIG), so a killed runner leaves no orphan writing into a
// unit folder that the next run will redo. Tested in tests/test_experiment_runner.cpp.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace ember::experiment {

struct ChildSpec {
  std::filesystem::path program;
  std::vector<std::string> args;
  std::filesystem::path log_file;   // appended to
  int gpu = -1;                     // >= 0: CUDA_VISIBLE_DEVICES=<gpu>
};

// Starts the child; an error names the program when it cannot be started.
pid_t start_child(const ChildSpec& spec);

// Waits for any child without blocking: returns its pid and sets *exit_code (128 + signal for a
// signalled child), or 0 when none has finished.
pid_t poll_children(int* exit_code);

// The last non-empty line of a file (a unit's progress or its error), "" when none.
std::string last_line(const std::filesystem::path& file, size_t max_bytes = 4096);

// The error a failed app left in its log: the last line that starts with "<program>: " (how
// training::run_cli_main prints it, before the usage hint), else the last line.
std::string error_line(const std::filesystem::path& file, const std::string& program,
                       size_t max_bytes = 16384);

// The folder of the running executable (where the other apps are).
std::filesystem::path executable_dir();

}  // namespace ember::experiment
