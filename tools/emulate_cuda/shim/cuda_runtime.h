// Host emulation of the CUDA runtime and device built-ins that kernels/cuda/*.cu use, so that the
// CUDA sources (after tools/emulate_cuda/transform.py rewrites their <<<...>>> launches) compile
// with g++ and run on the CPU. A development aid only (tools/emulate_cuda/README.md); never part
// of the library build.
//
// Execution model:
// - Blocks run one after another (in order, or in reverse order with EMU_REVERSE=1).
// - The threads of a block are cooperative fibers (ucontext) on the calling OS thread. A fiber runs
//   until it reaches a barrier (__syncthreads or a warp shuffle) or returns; the scheduler then
//   runs the next ready fiber (in threadIdx order, or reversed with EMU_REVERSE=1, which exposes
//   many missing-barrier races as a changed result). A barrier opens when every live thread of
//   the block (of the warp, for shuffles) waits at it.
// - "Device" memory is host memory: pointers are used as they are.
// - __shared__ arrays become function-local statics (transform.py), which works because only one
//   block runs at a time; at each block start they are filled with 0xFF bytes (NaN / -1), so a
//   read of shared memory that this block never wrote shows up as a wrong result.
// - Atomics are plain read-modify-writes: only one fiber runs at any time.
//
// Errors it reports (and aborts on): a deadlock (threads waiting at different barriers, or at a
// barrier some threads never reach), __syncthreads calls at different source lines, full-mask
// shuffles in a warp with exited or missing lanes (blockDim not a multiple of 32), lanes of one
// warp in different shuffle kinds / widths, launch geometry beyond the hardware limits, and more
// than 48 KiB of static shared memory.
#pragma once
#include <math.h>  // libstdc++'s math.h puts the float overloads (exp(float), ...) in :: like CUDA
#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <tuple>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// transform.py rewrites `__shared__ T name[...];` to register the array for poisoning; this
// fallback covers any other spelling.
#define __shared__ static

typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;
enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1 };
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
  unsigned x, y, z;
};

// Vector types (16-byte ones aligned like CUDA's, so alignment assumptions carry over).
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) double2 { double x, y; };
struct alignas(16) int4 { int x, y, z, w; };
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }
inline double2 make_double2(double x, double y) { return {x, y}; }

namespace emu {

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "emulate_cuda: %s\n", what);
  std::fflush(stderr);
  std::abort();
}

enum class Wait { None, Block, Warp, Done };
enum class ShuffleKind { Xor, Down, Up, Idx, Vote };

struct Fiber {
  ucontext_t ctx;
  uint3 tid;
  int linear = 0;
  Wait wait = Wait::None;
  int barrier_line = 0;     // source line of the __syncthreads it waits at
  ShuffleKind kind = ShuffleKind::Xor;
  int width = 32;
};

struct SharedRegion {
  void* ptr;
  size_t bytes;
};

struct State {
  dim3 grid, block;
  uint3 block_idx{0, 0, 0};
  std::vector<Fiber> fibers;
  std::vector<char*> stacks;
  Fiber* current = nullptr;
  ucontext_t scheduler;
  void (*entry)(void*) = nullptr;
  void* entry_arg = nullptr;
  std::exception_ptr error;
  alignas(16) unsigned char warp_buf[32][32][16];  // [warp][lane][16 bytes]
  std::vector<SharedRegion> shared;
  std::vector<const void*> launch_regions;  // __shared__ arrays the running kernel declared
  size_t shared_bytes_launch = 0;
  long long launches = 0, blocks = 0;
  unsigned grid_cap = 0;  // 0: none
  bool reverse = false;
  bool configured = false;
};

inline State& state() {
  static State s;
  if (!s.configured) {
    s.configured = true;
    const char* r = std::getenv("EMU_REVERSE");
    s.reverse = r && r[0] == '1';
    const char* c = std::getenv("EMU_GRID_CAP");
    s.grid_cap = c ? static_cast<unsigned>(std::strtoul(c, nullptr, 10)) : 0;
  }
  return s;
}

constexpr size_t kStackBytes = 256 * 1024;

inline void fiber_main() {
  State& s = state();
  try {
    s.entry(s.entry_arg);
  } catch (...) {
    if (!s.error) s.error = std::current_exception();
  }
  s.current->wait = Wait::Done;
  // uc_link returns to the scheduler.
}

// Called by a fiber: park at a barrier and give control back to the scheduler.
inline void park(Wait w) {
  State& s = state();
  s.current->wait = w;
  swapcontext(&s.current->ctx, &s.scheduler);
}

inline void run_block() {
  State& s = state();
  const int n = static_cast<int>(s.fibers.size());
  for (auto& r : s.shared) std::memset(r.ptr, 0xFF, r.bytes);
  for (int t = 0; t < n; ++t) {
    Fiber& f = s.fibers[t];
    if (static_cast<int>(s.stacks.size()) <= t) {
      void* p = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED) fail("cannot map a fiber stack");
      s.stacks.push_back(static_cast<char*>(p));
    }
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = s.stacks[t];
    f.ctx.uc_stack.ss_size = kStackBytes;
    f.ctx.uc_link = &s.scheduler;
    makecontext(&f.ctx, fiber_main, 0);
    f.wait = Wait::None;
  }
  const int warps = (n + 31) / 32;
  for (;;) {
    for (int k = 0; k < n; ++k) {
      Fiber& f = s.fibers[s.reverse ? n - 1 - k : k];
      if (f.wait != Wait::None) continue;
      s.current = &f;
      swapcontext(&s.scheduler, &f.ctx);
      s.current = nullptr;
    }
    if (s.error) break;  // a thread threw: abandon the block, rethrow below
    // Everyone is parked or done: open the barriers that all their threads reached.
    bool all_done = true, opened = false;
    for (auto& f : s.fibers) all_done = all_done && f.wait == Wait::Done;
    if (all_done) break;
    for (int w = 0; w < warps; ++w) {
      const int lo = 32 * w, hi = std::min(n, lo + 32);
      int waiting = 0, done = 0;
      for (int t = lo; t < hi; ++t) {
        waiting += s.fibers[t].wait == Wait::Warp;
        done += s.fibers[t].wait == Wait::Done;
      }
      if (waiting == 0) continue;
      if (hi - lo < 32) fail("full-mask warp shuffle/vote in a partial warp (blockDim not a multiple of 32)");
      if (done > 0) fail("full-mask warp shuffle/vote while some lanes of the warp have exited");
      if (waiting < 32) continue;  // others still elsewhere: a deadlock unless something opens
      for (int t = lo; t < hi; ++t)
        if (s.fibers[t].kind != s.fibers[lo].kind || s.fibers[t].width != s.fibers[lo].width)
          fail("lanes of one warp are in different shuffle operations (divergent shuffles)");
      for (int t = lo; t < hi; ++t) s.fibers[t].wait = Wait::None;
      opened = true;
    }
    if (!opened) {
      int waiting = 0, live = 0, line = -1;
      bool same_line = true;
      for (auto& f : s.fibers) {
        if (f.wait == Wait::Done) continue;
        ++live;
        if (f.wait == Wait::Block) {
          ++waiting;
          if (line < 0) line = f.barrier_line;
          same_line = same_line && f.barrier_line == line;
        }
      }
      if (waiting == live) {
        if (!same_line) fail("threads of one block wait at __syncthreads calls on different lines");
        for (auto& f : s.fibers)
          if (f.wait == Wait::Block) f.wait = Wait::None;
        opened = true;
      }
    }
    if (!opened) {
      for (auto& f : s.fibers)
        if (f.wait == Wait::Block || f.wait == Wait::Warp)
          std::fprintf(stderr, "  thread (%u,%u,%u) of block (%u,%u,%u) waits at %s (line %d)\n",
                       f.tid.x, f.tid.y, f.tid.z, s.block_idx.x, s.block_idx.y, s.block_idx.z,
                       f.wait == Wait::Block ? "__syncthreads" : "a warp shuffle", f.barrier_line);
      fail("deadlock: no barrier can open");
    }
  }
  if (s.error) std::rethrow_exception(s.error);
}

template <typename Fn, typename Tuple>
struct Call {
  Fn* fn;
  Tuple* args;
  static void run(void* p) {
    auto* c = static_cast<Call*>(p);
    Tuple copy = *c->args;  // each thread has its own copy of the parameters, like on a GPU
    std::apply(*c->fn, copy);
  }
};

// kernel<<<grid, block, smem, stream>>>(args...) becomes launch(grid, block, smem, stream,
// kernel-call lambda, args...): the arguments are evaluated once, on the host, like a real
// launch. The kernel runs to completion before launch returns (whatever the stream).
template <typename Fn, typename... Args>
void launch(dim3 grid, dim3 block, size_t dynamic_smem, cudaStream_t, Fn fn, Args&&... args) {
  State& s = state();
  if (dynamic_smem != 0) fail("dynamic shared memory is not emulated");
  const unsigned long long threads = 1ULL * block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0)
    fail("launch with an empty grid or block (cudaErrorInvalidConfiguration)");
  if (threads > 1024 || block.z > 64) fail("block larger than 1024 threads or block.z > 64");
  if (grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) fail("grid beyond 2^31-1 x 65535 x 65535");
  if (s.current) fail("kernel launch from device code");
  std::tuple<std::decay_t<Args>...> stored(std::forward<Args>(args)...);
  Call<Fn, decltype(stored)> call{&fn, &stored};
  s.entry = &Call<Fn, decltype(stored)>::run;
  s.entry_arg = &call;
  s.grid = grid;
  s.block = block;
  s.launch_regions.clear();
  s.shared_bytes_launch = 0;
  s.fibers.assign(threads, Fiber{});
  for (unsigned t = 0; t < threads; ++t)
    s.fibers[t].tid = {t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
  for (unsigned t = 0; t < threads; ++t) s.fibers[t].linear = static_cast<int>(t);
  ++s.launches;
  const unsigned long long nblocks = 1ULL * grid.x * grid.y * grid.z;
  for (unsigned long long k = 0; k < nblocks; ++k) {
    const unsigned long long b = s.reverse ? nblocks - 1 - k : k;
    s.block_idx = {static_cast<unsigned>(b % grid.x), static_cast<unsigned>((b / grid.x) % grid.y),
                   static_cast<unsigned>(b / (1ULL * grid.x * grid.y))};
    ++s.blocks;
    run_block();
  }
}

// Registers a __shared__ array (first sight: poison it now; later blocks poison it at start).
inline void shared_region(void* p, size_t bytes) {
  State& s = state();
  bool known = false;
  for (auto& r : s.shared) known = known || r.ptr == p;
  if (!known) {
    s.shared.push_back({p, bytes});
    std::memset(p, 0xFF, bytes);
  }
  for (const void* q : s.launch_regions)
    if (q == p) return;
  s.launch_regions.push_back(p);
  s.shared_bytes_launch += bytes;
  if (s.shared_bytes_launch > 48 * 1024) fail("more than 48 KiB of static shared memory in one kernel");
}

inline const uint3& thread_idx() { return state().current->tid; }
inline const uint3& block_idx() { return state().block_idx; }
inline const dim3& block_dim() { return state().block; }
inline const dim3& grid_dim() { return state().grid; }

inline void syncthreads(int line) {
  State& s = state();
  if (!s.current) fail("__syncthreads outside a kernel");
  s.current->barrier_line = line;
  park(Wait::Block);
}

inline int lane_of() { return state().current->linear % 32; }
inline int warp_of() { return state().current->linear / 32; }

template <typename T>
T shuffle(unsigned mask, T v, ShuffleKind kind, int arg, int width) {
  static_assert(sizeof(T) <= 16, "shuffle of a type over 16 bytes");
  State& s = state();
  if (!s.current) fail("warp shuffle outside a kernel");
  if (mask != 0xffffffffu) fail("only full-mask (0xffffffff) shuffles are emulated");
  if (width <= 0 || width > 32 || (width & (width - 1)) != 0) fail("shuffle width not a power of 2 <= 32");
  const int lane = lane_of(), warp = warp_of();
  std::memcpy(s.warp_buf[warp][lane], &v, sizeof(T));
  s.current->kind = kind;
  s.current->width = width;
  park(Wait::Warp);  // every lane has written
  const int base = lane & ~(width - 1), sub = lane - base;
  int src = lane;
  switch (kind) {
    case ShuffleKind::Xor: src = (sub ^ arg) < width ? base + (sub ^ arg) : lane; break;
    case ShuffleKind::Down: src = sub + arg < width ? lane + arg : lane; break;
    case ShuffleKind::Up: src = sub - arg >= 0 ? lane - arg : lane; break;
    case ShuffleKind::Idx: src = base + (((arg % width) + width) % width); break;
    case ShuffleKind::Vote: break;
  }
  T r;
  std::memcpy(&r, s.warp_buf[warp][src], sizeof(T));
  park(Wait::Warp);  // every lane has read: the buffer may be reused
  return r;
}

// __ballot_sync: bit i set when lane i's predicate holds.
inline unsigned ballot(unsigned mask, int pred) {
  State& s = state();
  const int lane = lane_of(), warp = warp_of();
  const int p = pred != 0;
  std::memcpy(s.warp_buf[warp][lane], &p, sizeof(int));
  if (mask != 0xffffffffu) fail("only full-mask votes are emulated");
  s.current->kind = ShuffleKind::Vote;
  s.current->width = 32;
  park(Wait::Warp);
  unsigned bits = 0;
  for (int l = 0; l < 32; ++l) {
    int q;
    std::memcpy(&q, s.warp_buf[warp][l], sizeof(int));
    if (q) bits |= 1u << l;
  }
  park(Wait::Warp);
  return bits;
}

}  // namespace emu

#define threadIdx (::emu::thread_idx())
#define blockIdx (::emu::block_idx())
#define blockDim (::emu::block_dim())
#define gridDim (::emu::grid_dim())
#define warpSize 32
#define __syncthreads() ::emu::syncthreads(__LINE__)

template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return emu::shuffle(mask, v, emu::ShuffleKind::Xor, lane_mask, width);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return emu::shuffle(mask, v, emu::ShuffleKind::Down, static_cast<int>(delta), width);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return emu::shuffle(mask, v, emu::ShuffleKind::Up, static_cast<int>(delta), width);
}
template <typename T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  return emu::shuffle(mask, v, emu::ShuffleKind::Idx, src_lane, width);
}
inline unsigned __ballot_sync(unsigned mask, int pred) { return emu::ballot(mask, pred); }
inline int __any_sync(unsigned mask, int pred) { return emu::ballot(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return emu::ballot(mask, pred) == 0xffffffffu; }
inline void __syncwarp(unsigned = 0xffffffffu) {}
inline void __threadfence() {}

// Atomics: only one fiber runs at a time, so a plain read-modify-write is atomic.
template <typename T> T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <typename T> T atomicSub(T* p, T v) { T old = *p; *p = old - v; return old; }
template <typename T> T atomicMin(T* p, T v) { T old = *p; *p = v < old ? v : old; return old; }
template <typename T> T atomicMax(T* p, T v) { T old = *p; *p = old < v ? v : old; return old; }
template <typename T> T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <typename T> T atomicOr(T* p, T v) { T old = *p; *p = old | v; return old; }
template <typename T> T atomicAnd(T* p, T v) { T old = *p; *p = old & v; return old; }
template <typename T> T atomicCAS(T* p, T cmp, T v) { T old = *p; if (old == cmp) *p = v; return old; }

// CUDA's device min / max for one operand type (the kernels call them unqualified, as in CUDA).
#define EMU_MIN_MAX(T) \
  inline T min(T a, T b) { return b < a ? b : a; } \
  inline T max(T a, T b) { return a < b ? b : a; }
EMU_MIN_MAX(int)
EMU_MIN_MAX(unsigned)
EMU_MIN_MAX(long)
EMU_MIN_MAX(unsigned long)
EMU_MIN_MAX(long long)
EMU_MIN_MAX(unsigned long long)
#undef EMU_MIN_MAX

// Math intrinsics beyond <math.h> (host precision: see README, "What it cannot check").
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float rsqrt(float x) { return rsqrtf(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
template <typename T> T __ldg(const T* p) { return *p; }

// Runtime API: host memory stands in for device memory, streams and events are no-ops.
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaPeekAtLastError() { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned = 0) { return cudaSuccess; }
inline cudaError_t cudaEventCreate(cudaEvent_t* e) { *e = nullptr; return cudaSuccess; }
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { *e = nullptr; return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t = nullptr) { return cudaSuccess; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t = nullptr) {
  std::memset(p, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int v, size_t n) { std::memset(p, v, n); return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind,
                                   cudaStream_t = nullptr) {
  std::memmove(d, s, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) {
  std::memmove(d, s, n);
  return cudaSuccess;
}
inline const char* cudaGetErrorString(cudaError_t) { return "emulated"; }
// Device selection and allocations (tensor/cuda/device_errors.cpp's error slot): one device;
// device memory is malloc'ed host memory, and mapped pinned memory is its own device address.
enum { cudaHostAllocDefault = 0, cudaHostAllocPortable = 1, cudaHostAllocMapped = 2 };
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidValue; }
inline cudaError_t cudaMalloc(void** p, size_t n) {
  *p = std::malloc(n ? n : 1);
  return *p ? cudaSuccess : cudaErrorInvalidValue;
}
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaHostAlloc(void** p, size_t n, unsigned) { return cudaMalloc(p, n); }
inline cudaError_t cudaFreeHost(void* p) { return cudaFree(p); }
inline cudaError_t cudaHostGetDevicePointer(void** d, void* h, unsigned) {
  *d = h;
  return cudaSuccess;
}
