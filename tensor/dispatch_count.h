// Counts kernel dispatches: every kernel call the dispatch layer makes (kernels/dispatch.h), every
// same-device copy or fill and every transfer between devices (tensor/copy.cpp). One count per
// call, the same on the CPU (the kernel it runs) and on the GPU (the kernel it launches), so the
// figure measured on a machine without a GPU is the one a GPU step makes. A CUDA dispatch that
// launches more than one kernel, or calls cuBLAS/cuDNN, still counts once: the count measures the
// host-side work per step (what bounds a training step made of small kernels), not GPU launches.
//
// On the GPU the kernels themselves are counted too (launch_count): every checked launch of an
// ember kernel and every cuBLAS or cuDNN call (EMBER_CUDA_CHECK_LAUNCH follows each one, in
// tensor/cuda/cuda_check.h), so a dispatch that launches two kernels shows as two launches. A
// library call counts once even where the library launches several kernels inside.
//
// Counts are per thread: a training step runs on one thread, and a data loader's workers do not
// disturb its figure. Counting costs one thread-local increment per dispatch.
//
//   const uint64_t before = ember::dispatch_count();
//   train_step();
//   const uint64_t per_step = ember::dispatch_count() - before;
//
// DispatchTally also records which ops were dispatched, by name, while it is alive (the
// benchmarks print it to show where a step's dispatches go). Tested in tests/test_dispatch_count.cpp.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ember {

class DispatchTally;

namespace dispatch_detail {
inline thread_local uint64_t count = 0;
inline thread_local uint64_t launches = 0;
inline thread_local DispatchTally* tally = nullptr;  // innermost live tally of this thread
void record(const char* name);
}  // namespace dispatch_detail

// Called once per dispatch, with the op's name.
inline void count_dispatch(const char* name) {
  ++dispatch_detail::count;
  if (dispatch_detail::tally) dispatch_detail::record(name);
}

// Dispatches this thread has made since it started.
inline uint64_t dispatch_count() { return dispatch_detail::count; }

// Called after each GPU kernel launch or GPU library call (EMBER_CUDA_CHECK_LAUNCH).
inline void count_kernel_launch() { ++dispatch_detail::launches; }

// GPU kernel launches and library calls this thread has made since it started (0 without a GPU).
inline uint64_t launch_count() { return dispatch_detail::launches; }

// While alive, counts this thread's dispatches by op name. Tallies nest: an inner one takes the
// counts while it lives and the outer one resumes after it.
class DispatchTally {
 public:
  DispatchTally();
  ~DispatchTally();
  DispatchTally(const DispatchTally&) = delete;
  DispatchTally& operator=(const DispatchTally&) = delete;

  uint64_t total() const;
  // (name, count) pairs, the most frequent first, ties by name.
  std::vector<std::pair<std::string, uint64_t>> by_name() const;

 private:
  friend void dispatch_detail::record(const char* name);
  std::map<std::string, uint64_t> counts_;
  DispatchTally* outer_;
};

}  // namespace ember
