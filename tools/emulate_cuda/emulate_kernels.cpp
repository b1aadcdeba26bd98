// Runs the emulated CUDA kernels (kernels/cuda/*.cu and tensor/cuda/copy.cu compiled against shim/cuda_runtime.h) against
// the CPU references and prints one line per case with its maximum error. Usage:
//   emulate_kernels [family ...]   families: pointwise norm index misc conv edges copy
//   depthwise_variants linalg squeeze_excite preprocess (default: all)
// Environment: EMU_GRID_CAP=n caps grid_for at n blocks; EMU_REVERSE=1 runs blocks and threads in
// reverse order. tools/emulate_cuda/run.sh builds and runs it (README.md).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "check.h"
#include "tensor/cuda/device_errors.h"

void check_device_errors_after_sync() { ember::cuda::check_device_errors(); }

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // in order with the emulator's stderr messages
  struct Family {
    const char* name;
    void (*run)();
  };
  const Family families[] = {{"pointwise", check_pointwise}, {"norm", check_norm},
                             {"index", check_index}, {"misc", check_pool_optim_random},
                             {"conv", check_conv}, {"edges", check_edges},
                             {"copy", check_copy},
                             {"depthwise_variants", check_depthwise_variants},
                             {"linalg", check_linalg},
                             {"squeeze_excite", check_squeeze_excite},
                             {"preprocess", check_preprocess}};
  for (const Family& f : families) {
    bool wanted = argc == 1;
    for (int i = 1; i < argc; ++i) wanted = wanted || std::strcmp(argv[i], f.name) == 0;
    if (!wanted) continue;
    try {
      f.run();
    } catch (const std::exception& e) {
      std::printf("FAIL %s: uncaught exception: %s\n", f.name, e.what());
      ++emu_check::failures;
    }
  }
  // Every deferred error must have been reported by the check that provoked it.
  if (const std::string left = emu_check::message_of(check_device_errors_after_sync);
      !left.empty()) {
    std::printf("FAIL a device error was left unreported: %s\n", left.c_str());
    ++emu_check::failures;
  }
  const char* cap = std::getenv("EMU_GRID_CAP");
  const char* rev = std::getenv("EMU_REVERSE");
  std::printf("%d of %d cases failed (EMU_GRID_CAP=%s EMU_REVERSE=%s)\n", emu_check::failures,
              emu_check::cases, cap ? cap : "", rev ? rev : "");
  return emu_check::failures != 0;
}
