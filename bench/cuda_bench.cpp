// Shared GPU-benchmark utilities (see cuda_bench.h). Built only with the CUDA backend, into the
// ember_cuda_bench library that every bench/bench_*_cuda program links.
#include "bench/cuda_bench.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <map>
#include <sstream>

#include "kernels/backend_settings.h"
#include "kernels/random.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::bench {

namespace {

// One pair of events for the whole process: every timing is done by the benchmark thread, one
// run at a time. Never destroyed: the CUDA runtime may already be torn down at static
// destruction.
struct Events {
  cudaEvent_t start = nullptr, stop = nullptr;
};

Events& events() {
  static Events* e = [] {
    auto* ev = new Events;
    EMBER_CUDA_CHECK(cudaEventCreate(&ev->start));
    EMBER_CUDA_CHECK(cudaEventCreate(&ev->stop));
    return ev;
  }();
  return *e;
}

// A buffer of twice the L2 size: writing all of it evicts whatever the previous run left in L2,
// so every timed run starts cold, as it would inside a training step where the layers between
// two calls of one kernel touch far more than L2 holds. Kept alive (leaked) for the same reason
// as the events.
struct FlushBuffer {
  Tensor buffer;
  int64_t bytes = 0;
};

FlushBuffer& flush_buffer() {
  static FlushBuffer* f = [] {
    int device = 0, l2 = 0;
    EMBER_CUDA_CHECK(cudaGetDevice(&device));
    EMBER_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
    auto* fb = new FlushBuffer;
    fb->bytes = std::max<int64_t>(2 * static_cast<int64_t>(l2), int64_t{1} << 20);
    fb->buffer = empty({fb->bytes}, {DType::UInt8, Device::cuda(device)});
    return fb;
  }();
  return *f;
}

void flush_l2() {
  static int value = 0;
  FlushBuffer& f = flush_buffer();
  value = (value + 1) & 0xff;  // a different byte each time, so no write is a no-op
  EMBER_CUDA_CHECK(cudaMemsetAsync(f.buffer.raw_data(), value, static_cast<size_t>(f.bytes),
                                   cuda::compute_stream()));
}

// GPU seconds of one call of f on the compute stream, L2 flushed first. The flush is queued
// ahead of the start event and not waited for: while the GPU writes it (tens of microseconds)
// the host queues the start event and f's launches, so the measured span holds f's kernels
// back to back rather than the host's launch latency.
double time_once(const std::function<void()>& f) {
  const cudaStream_t stream = cuda::compute_stream();
  Events& ev = events();
  flush_l2();
  EMBER_CUDA_CHECK(cudaEventRecord(ev.start, stream));
  f();
  EMBER_CUDA_CHECK(cudaEventRecord(ev.stop, stream));
  // The elapsed time must reach the host, so this waits for the stop event.
  EMBER_CUDA_CHECK(cudaEventSynchronize(ev.stop));
  float ms = 0;
  EMBER_CUDA_CHECK(cudaEventElapsedTime(&ms, ev.start, ev.stop));
  return static_cast<double>(ms) * 1e-3;
}

void add_context_once() {
  static bool done = false;
  if (done) return;
  done = true;
  if (!cuda_available()) {
    benchmark::AddCustomContext("gpu", "none visible: every GPU benchmark is skipped");
    return;
  }
  int device = 0;
  cudaDeviceProp prop{};
  EMBER_CUDA_CHECK(cudaGetDevice(&device));
  EMBER_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  benchmark::AddCustomContext("gpu", prop.name);
  int l2 = 0;
  EMBER_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
  benchmark::AddCustomContext("l2_flush_bytes", std::to_string(2LL * l2));
  const kernels::BackendSettings& s = kernels::backend_settings();
  benchmark::AddCustomContext(
      "backend_settings",
      std::string("allow_tf32=") + (s.allow_tf32 ? "1" : "0") +
          " deterministic=" + (s.deterministic ? "1" : "0") +
          " conv_autotune=" + (s.conv_autotune ? "1" : "0") + " depthwise=" +
          (s.depthwise_impl == kernels::DepthwiseImpl::Cudnn ? "cudnn" : "ember"));
}

}  // namespace

bool require_gpu(benchmark::State& state) {
  if (cuda_available()) return true;
  state.SkipWithError("no CUDA device visible");
  return false;
}

Tensor gpu_empty(const Shape& shape, DType dtype) {
  return empty(shape, {dtype, Device::cuda()});
}

Tensor cpu_empty(const Shape& shape, DType dtype) { return empty(shape, {dtype, Device::cpu()}); }

Tensor gpu_uniform(const Shape& shape, uint64_t seed, DType dtype, double low, double high) {
  Tensor t = gpu_empty(shape, dtype);
  if (t.numel() > 0) kernels::fill_uniform(t, seed, 0, low, high);
  return t;
}

Tensor to_cpu(const Tensor& t) { return convert(t, t.dtype(), Device::cpu()); }

std::string compare(const Tensor& gpu, const Tensor& cpu_ref, double tol,
                    const std::string& what) {
  if (gpu.shape() != cpu_ref.shape())
    return what + ": GPU shape " + shape_str(gpu.shape()) + " vs CPU " +
           shape_str(cpu_ref.shape());
  const std::vector<double> got = to_cpu(gpu).to_vector<double>();
  const std::vector<double> want = cpu_ref.to_vector<double>();
  double scale = 0;
  for (double v : want) scale = std::max(scale, std::abs(v));
  if (scale == 0) scale = 1;  // an all-zero reference: the tolerance becomes absolute
  double worst = -1;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(got[i] - want[i]);
    if (std::isnan(d)) {  // NaN on either side never passes
      worst = d, at = i;
      break;
    }
    if (d > worst) worst = d, at = i;
  }
  if (got.empty() || (!std::isnan(worst) && worst <= tol * scale)) return "";
  std::ostringstream out;
  out << what << ": max |gpu - cpu| = " << worst << " at element " << at << " of "
      << shape_str(gpu.shape()) << " (gpu " << got[at] << ", cpu " << want[at]
      << "), allowed " << tol << " * max|cpu| = " << tol * scale;
  return out.str();
}

std::string join_errors(const std::vector<std::string>& errors) {
  std::string all;
  for (const std::string& e : errors) {
    if (e.empty()) continue;
    if (!all.empty()) all += "; ";
    all += e;
  }
  return all;
}

bool validate_once(benchmark::State& state, const std::string& key,
                   const std::function<std::string()>& check) {
  static std::map<std::string, std::string> results;
  auto it = results.find(key);
  if (it == results.end()) {
    std::string message;
    try {
      message = check();
    } catch (const std::exception& e) {
      message = e.what();
    }
    if (!message.empty()) {
      message = "validation against the CPU failed: " + message;
      // Also on stderr, in full: the console table may cut long error labels.
      std::fprintf(stderr, "%s: %s\n", key.c_str(), message.c_str());
    }
    it = results.emplace(key, message).first;
  }
  if (it->second.empty()) return true;
  state.SkipWithError(it->second.c_str());
  return false;
}

bool setup(benchmark::State& state, const std::function<void()>& work) {
  try {
    work();
    return true;
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return false;
  }
}

std::function<void()> memcpy_reference(double traffic_bytes) {
  const int64_t bytes = std::max<int64_t>(static_cast<int64_t>(traffic_bytes / 2), 1);
  const Tensor src = gpu_empty({bytes}, DType::UInt8), dst = gpu_empty({bytes}, DType::UInt8);
  // Written once so the copy reads initialised bytes, as the kernel it is compared with does.
  EMBER_CUDA_CHECK(cudaMemsetAsync(src.raw_data(), 0x5a, static_cast<size_t>(bytes),
                                   cuda::compute_stream()));
  return [src, dst, bytes] {
    EMBER_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), static_cast<size_t>(bytes),
                                     cudaMemcpyDeviceToDevice, cuda::compute_stream()));
  };
}

bool timed_loop(benchmark::State& state, const std::function<void()>& run,
                const std::function<void()>& reference, Timing* timing) {
  *timing = Timing{};
  try {
    // Warm-up, untimed: plan caches, cuBLAS/cuDNN heuristics, lazy module loading.
    run();
    if (reference) reference();
    cuda::synchronize();  // surface any asynchronous fault of the warm-up here, not mid-loop
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return false;
  }
  for (auto _ : state) {
    try {
      const double seconds = time_once(run);
      state.SetIterationTime(seconds);
      timing->seconds += seconds;
      if (reference) timing->reference_seconds += time_once(reference);
      ++timing->iterations;
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  return !state.error_occurred();
}

void report(benchmark::State& state, const Timing& timing, double bytes, double flops) {
  if (timing.iterations == 0 || timing.seconds <= 0) return;
  const double t = timing.mean(), rt = timing.reference_mean();
  if (bytes > 0) state.counters["GB/s"] = bytes / t / 1e9;
  if (flops > 0) state.counters["TFLOP/s"] = flops / t / 1e12;
  if (rt > 0) {
    if (bytes > 0) state.counters["ref_GB/s"] = bytes / rt / 1e9;
    if (flops > 0) state.counters["ref_TFLOP/s"] = flops / rt / 1e12;
  }
}

void report_time_ratio(benchmark::State& state, const Timing& timing, const std::string& name) {
  if (timing.iterations == 0 || timing.reference_seconds <= 0) return;
  state.counters[name] = timing.seconds / timing.reference_seconds;
}

void report_memcpy_fraction(benchmark::State& state, const Timing& timing) {
  if (timing.iterations == 0 || timing.seconds <= 0 || timing.reference_seconds <= 0) return;
  state.counters["vs_memcpy"] = timing.reference_seconds / timing.seconds;
}

int run_benchmarks(int argc, char** argv) {
  // Default 0.05 s of GPU time per benchmark: each timed run also pays an L2 flush and a host
  // wait, so Google Benchmark's 0.5 s default would take minutes per program. A
  // --benchmark_min_time given on the command line comes later and wins.
  static char min_time[] = "--benchmark_min_time=0.05";
  std::vector<char*> args(argv, argv + argc);
  args.insert(args.begin() + (argc > 0 ? 1 : 0), min_time);
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  add_context_once();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace ember::bench
