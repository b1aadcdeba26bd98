// The per-device error records of tensor/cuda/device_errors.h: set up once per device, read and
// cleared after the host's existing synchronisations (tensor/cuda/cuda_runtime.cpp,
// EMBER_CUDA_CHECK_LAUNCH in EMBER_CUDA_SYNC=1 mode). Design: docs/cuda_kernels.md ("Deferred
// device errors"). Tested on a GPU by tests/test_cuda_index.cpp and tests/test_cuda_loss.cpp.
#include "tensor/cuda/device_errors.h"

#include <atomic>
#include <cstddef>
#include <cstring>
#include <mutex>

#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::cuda {

namespace {

constexpr int kMaxDevices = 64;

// The device-memory words of one slot, in one allocation.
struct DeviceWords {
  int claim;
  unsigned int blocks_done;
  unsigned long long first_bad;
};

struct State {
  DeviceErrorSlot slot;                          // device addresses
  DeviceErrorRecord* host_record = nullptr;      // host address of slot.record
};

std::mutex setup_mutex;
State states[kMaxDevices];
// Set (release) once states[d] is complete; the fast paths read only these flags first.
std::atomic<bool> ready[kMaxDevices];
std::atomic<int> devices_seen{0};  // 1 + the highest device with a slot

void set_up(int device, State& state) {
  int previous = 0;
  EMBER_CUDA_CHECK(cudaGetDevice(&previous));
  EMBER_CUDA_CHECK(cudaSetDevice(device));
  void* words = nullptr;
  EMBER_CUDA_CHECK(cudaMalloc(&words, sizeof(DeviceWords)));
  void* host = nullptr;
  EMBER_CUDA_CHECK(cudaHostAlloc(&host, sizeof(DeviceErrorRecord),
                                 cudaHostAllocMapped | cudaHostAllocPortable));
  std::memset(host, 0, sizeof(DeviceErrorRecord));
  void* mapped = nullptr;
  EMBER_CUDA_CHECK(cudaHostGetDevicePointer(&mapped, host, 0));
  // Resting values (claim 0, blocks_done 0, first_bad ~0), queued on the compute stream so they
  // are in place before any kernel that uses them.
  auto* w = static_cast<DeviceWords*>(words);
  EMBER_CUDA_CHECK(cudaMemsetAsync(w, 0, offsetof(DeviceWords, first_bad), compute_stream()));
  EMBER_CUDA_CHECK(cudaMemsetAsync(&w->first_bad, 0xFF, sizeof(w->first_bad), compute_stream()));
  EMBER_CUDA_CHECK(cudaSetDevice(previous));
  state.slot = {&w->claim, static_cast<DeviceErrorRecord*>(mapped), &w->first_bad, &w->blocks_done};
  state.host_record = static_cast<DeviceErrorRecord*>(host);
}

}  // namespace

DeviceErrorSlot device_error_slot(int device) {
  EMBER_CHECK(device >= 0 && device < kMaxDevices, "device_error_slot: no device cuda:", device);
  if (!ready[device].load(std::memory_order_acquire)) {
    const std::lock_guard<std::mutex> lock(setup_mutex);
    if (!ready[device].load(std::memory_order_relaxed)) {
      set_up(device, states[device]);
      ready[device].store(true, std::memory_order_release);
      int seen = devices_seen.load();
      while (seen < device + 1 && !devices_seen.compare_exchange_weak(seen, device + 1)) {
      }
    }
  }
  return states[device].slot;
}

void check_device_errors(const char* kernel) {
  const int seen = devices_seen.load(std::memory_order_acquire);
  for (int device = 0; device < seen; ++device) {
    if (!ready[device].load(std::memory_order_acquire)) continue;
    State& state = states[device];
    // The caller has just synchronised: the kernel that wrote the record has finished and its
    // stores to this mapped host memory are visible. volatile: the device writes it, not us.
    volatile DeviceErrorRecord* host = state.host_record;
    if (host->code == 0) continue;
    DeviceErrorRecord record;
    record.code = host->code;
    record.value = host->value;
    record.position = host->position;
    record.bound = host->bound;
    record.axis = host->axis;
    // Clear it so the next good call works: the host copy now, the device claim by a memset
    // queued before any later kernel can try to claim it.
    host->code = 0;
    EMBER_CUDA_CHECK(cudaMemsetAsync(state.slot.claim, 0, sizeof(int), compute_stream()));
    throw Error(deferred_device_error_message(record, kernel));
  }
}

}  // namespace ember::cuda
