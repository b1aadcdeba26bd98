// Shared ground for the GPU benchmark programs (bench/bench_*_cuda.cpp): inputs made on the GPU,
// a one-time check of the GPU result against the CPU reference kernel (kernels::cpu::...) before
// anything is timed, CUDA-event timing on ember::cuda::compute_stream() reported through
// State::SetIterationTime (benchmarks use UseManualTime), an L2 flush before every timed run,
// an optional reference variant timed in the same iteration (TF32 GEMM, cuDNN depthwise,
// device-to-device memcpy) and the GB/s, TFLOP/s and ratio counters.
//
// Without a visible GPU every benchmark marks itself skipped with "no CUDA device visible", so
// the programs still run to completion and exit 0 (on a CPU-only machine, or in CI).
// A kernel that throws (not written yet, a cuDNN failure) skips that benchmark with the message.
#pragma once
#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ember::bench {

// True when a GPU is visible; otherwise marks the benchmark skipped and returns false.
bool require_gpu(benchmark::State& state);

// A contiguous tensor of uniform [low, high) values made on the GPU by the Philox fill
// (kernels/random.h), deterministic in seed. Copy it to the host with to_cpu() for the reference.
Tensor gpu_uniform(const Shape& shape, uint64_t seed, DType dtype = DType::Float32,
                   double low = -1.0, double high = 1.0);
Tensor gpu_empty(const Shape& shape, DType dtype = DType::Float32);
Tensor to_cpu(const Tensor& t);
Tensor cpu_empty(const Shape& shape, DType dtype = DType::Float32);

// "" when |gpu - ref| <= tol * max(|ref|) everywhere (and nothing is NaN), else a description
// of the worst element. Scaling by the largest reference value keeps results near zero (sums
// that cancel) from failing on rounding alone, while a wrong index still misses by O(scale).
std::string compare(const Tensor& gpu, const Tensor& cpu_ref, double tol, const std::string& what);
// Joins the non-empty messages with "; ".
std::string join_errors(const std::vector<std::string>& errors);

// Runs `check` (which returns "" when the GPU matches the CPU) the first time `key` is seen in
// this process and remembers the answer, since Google Benchmark calls a benchmark function
// several times (iteration-count trials, repetitions). On a mismatch or an exception the
// benchmark is skipped with the message and false is returned.
bool validate_once(benchmark::State& state, const std::string& key,
                   const std::function<std::string()>& check);

// Runs untimed setup work on the GPU (e.g. a forward pass whose statistics a backward benchmark
// reads); if it throws, the benchmark is skipped with the message and false is returned.
bool setup(benchmark::State& state, const std::function<void()>& work);

// The bandwidth reference of memory-bound kernels: a device-to-device cudaMemcpyAsync on the
// compute stream that moves the same traffic as the kernel, i.e. copies traffic_bytes / 2 (read
// once, written once). The returned function owns its two buffers.
std::function<void()> memcpy_reference(double traffic_bytes);

// GPU time of the primary variant (and of the reference variant, when there is one), summed
// over the iterations of the loop.
struct Timing {
  double seconds = 0;            // primary, summed
  double reference_seconds = 0;  // reference, summed (0 without a reference)
  int64_t iterations = 0;
  double mean() const { return iterations ? seconds / static_cast<double>(iterations) : 0; }
  double reference_mean() const {
    return iterations ? reference_seconds / static_cast<double>(iterations) : 0;
  }
};

// The benchmark loop. Each iteration: flush L2, time `run` between two events on the compute
// stream, SetIterationTime(that); then, when `reference` is given, flush again and time it too
// (not part of the reported time, only of the ratio: timing both in the same loop keeps clock
// and thermal drift out of the ratio). Returns false (benchmark skipped) if either throws.
bool timed_loop(benchmark::State& state, const std::function<void()>& run,
                const std::function<void()>& reference, Timing* timing);

// Counters computed from the measured GPU time (not from Google Benchmark's rate flags, so the
// same numbers come out whatever the timing mode): "GB/s" = bytes / mean time when bytes > 0,
// "TFLOP/s" = flops / mean time when flops > 0, and the same for the reference as
// "ref_GB/s" / "ref_TFLOP/s" when one was timed.
void report(benchmark::State& state, const Timing& timing, double bytes, double flops);
// counters[name] = mean primary time / mean reference time (> 1: the primary is slower).
void report_time_ratio(benchmark::State& state, const Timing& timing, const std::string& name);

// counters["vs_memcpy"] = mean reference time / mean primary time: with memcpy_reference as the
// reference, the kernel's achieved bandwidth as a fraction of a copy moving the same bytes.
void report_memcpy_fraction(benchmark::State& state, const Timing& timing);

// Registers nothing; parses the flags after adding this suite's default --benchmark_min_time
// (0.05 s of GPU time, overridable on the command line) and runs what was registered.
int run_benchmarks(int argc, char** argv);

// Bytes of a tensor's elements.
inline double nbytes(const Tensor& t) {
  return static_cast<double>(t.numel()) * static_cast<double>(dtype_size(t.dtype()));
}

}  // namespace ember::bench
