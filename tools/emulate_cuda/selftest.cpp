// Self-test of the emulator (shim/cuda_runtime.h): every shuffle kind and width, votes, block
// barriers with shared memory, atomics, and the error paths (each run in a forked child, which
// must abort with the expected message). run.sh compiles and runs it before the kernel checks.
// The kernels below are written as CUDA source and go through transform.py like the real ones.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_runtime.h>

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  failures += !ok;
}

// out[t] for every shuffle flavour: lane-dependent values make every source lane visible.
__global__ void shuffle_kernel(int* out) {
  const int t = threadIdx.x, lane = t % 32;
  const int v = 1000 * (t / 32) + lane;
  out[0 * 64 + t] = __shfl_xor_sync(0xffffffffu, v, 5);
  out[1 * 64 + t] = __shfl_down_sync(0xffffffffu, v, 3);
  out[2 * 64 + t] = __shfl_up_sync(0xffffffffu, v, 2);
  out[3 * 64 + t] = __shfl_sync(0xffffffffu, v, 7);
  out[4 * 64 + t] = __shfl_down_sync(0xffffffffu, v, 1, 8);
  out[5 * 64 + t] = __shfl_sync(0xffffffffu, v, 3, 16);
  out[6 * 64 + t] = static_cast<int>(__ballot_sync(0xffffffffu, lane % 3 == 0));
  out[7 * 64 + t] = __shfl_xor_sync(0xffffffffu, static_cast<double>(v) + 0.5, 16) * 2;
}

// Block sum through shared memory with a tree (barrier per level), then an atomic across blocks.
__global__ void tree_kernel(const int* in, int* block_sums, unsigned long long* total) {
  __shared__ int s[128];
  const int t = threadIdx.x;
  s[t] = in[blockIdx.x * 128 + t];
  __syncthreads();
  for (int half = 64; half > 0; half /= 2) {
    if (t < half) s[t] += s[t + half];
    __syncthreads();
  }
  if (t == 0) {
    block_sums[blockIdx.x] = s[0];
    atomicAdd(total, static_cast<unsigned long long>(s[0]));
  }
}

// Error cases (each in a child process).
__global__ void deadlock_kernel(int* out) {
  if (threadIdx.x % 32 < 16) __syncthreads();  // half of each warp waits here, the other half
  else out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);  // at a shuffle: neither opens
}
__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x % 2) {
    out[threadIdx.x] = 1;
    __syncthreads();
  } else {
    out[threadIdx.x] = 2;
    __syncthreads();
  }
}
__global__ void partial_warp_kernel(int* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, static_cast<int>(threadIdx.x), 1);
}
__global__ void exited_lane_kernel(int* out) {
  if (threadIdx.x == 3) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, static_cast<int>(threadIdx.x), 1);
}
__global__ void uninitialised_shared_kernel(int* out) {
  __shared__ int s[64];
  if (threadIdx.x < 32) s[threadIdx.x] = 7;
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x];  // threads 32..63 read what nobody wrote
}

// Runs fn in a child; it must die with a message containing `needle` on stderr.
template <typename Fn>
void expect_abort(Fn fn, const char* needle, const std::string& what) {
  int fds[2];
  if (pipe(fds) != 0) return;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    fn();
    _exit(0);
  }
  close(fds[1]);
  std::string err;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) err.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  const bool died = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  expect(died && err.find(needle) != std::string::npos,
         what + " -> \"" + needle + "\"" + (died ? "" : " (did not abort)"));
}

}  // namespace

int main() {
  std::vector<int> out(8 * 64, -1);
  shuffle_kernel<<<1, 64>>>(out.data());
  bool ok[8] = {true, true, true, true, true, true, true, true};
  for (int t = 0; t < 64; ++t) {
    const int lane = t % 32, base = 1000 * (t / 32);
    ok[0] &= out[t] == base + (lane ^ 5);
    ok[1] &= out[64 + t] == base + (lane + 3 < 32 ? lane + 3 : lane);
    ok[2] &= out[128 + t] == base + (lane >= 2 ? lane - 2 : lane);
    ok[3] &= out[192 + t] == base + 7;
    ok[4] &= out[256 + t] == base + (lane % 8 + 1 < 8 ? lane + 1 : lane);
    ok[5] &= out[320 + t] == base + (lane / 16) * 16 + 3;
    ok[6] &= static_cast<unsigned>(out[384 + t]) == 0x49249249u;
    ok[7] &= out[448 + t] == 2 * (base + (lane ^ 16)) + 1;
  }
  const char* names[8] = {"shfl_xor", "shfl_down", "shfl_up", "shfl (idx)", "shfl_down width 8",
                          "shfl idx width 16", "ballot", "shfl_xor double"};
  for (int k = 0; k < 8; ++k) expect(ok[k], names[k]);

  std::vector<int> in(5 * 128), sums(5);
  long long want = 0;
  for (size_t i = 0; i < in.size(); ++i) want += in[i] = static_cast<int>(i * 7 % 101);
  unsigned long long total = 0;
  tree_kernel<<<5, 128>>>(in.data(), sums.data(), &total);
  bool block_ok = true;
  for (int b = 0; b < 5; ++b) {
    int s = 0;
    for (int t = 0; t < 128; ++t) s += in[b * 128 + t];
    block_ok &= sums[b] == s;
  }
  expect(block_ok && total == static_cast<unsigned long long>(want),
         "shared-memory tree with barriers, atomicAdd across blocks");

  std::vector<int> scratch(128);
  int* p = scratch.data();
  expect_abort([&] { deadlock_kernel<<<1, 64>>>(p); }, "deadlock", "half a warp at a barrier, half at a shuffle");
  expect_abort([&] { divergent_barrier_kernel<<<1, 64>>>(p); }, "different lines", "divergent __syncthreads");
  expect_abort([&] { partial_warp_kernel<<<1, 48>>>(p); }, "partial warp", "shuffle in a 48-thread block");
  expect_abort([&] { exited_lane_kernel<<<1, 32>>>(p); }, "exited", "shuffle after a lane returned");
  expect_abort([&] { partial_warp_kernel<<<0, 32>>>(p); }, "empty grid", "launch with grid 0");
  expect_abort([&] { partial_warp_kernel<<<dim3(1, 70000), 32>>>(p); }, "grid beyond", "grid.y = 70000");
  expect_abort([&] { partial_warp_kernel<<<1, 2048>>>(p); }, "1024", "block of 2048 threads");
  uninitialised_shared_kernel<<<1, 64>>>(p);
  expect(scratch[0] == 7 && scratch[63] == -1, "unwritten shared memory reads the 0xFF poison");

  std::printf("selftest: %d failures\n", failures);
  return failures != 0;
}
