// Emulator stand-in for tensor/cuda/cuda_check.h (tools/emulate_cuda/): the emulated runtime calls
// always succeed, and a launch either ran to completion or aborted with a message.
#pragma once
#include <cuda_runtime.h>

#include "tensor/error.h"

#define EMBER_CUDA_CHECK(call) (void)(call)
#define EMBER_CUDA_CHECK_LAUNCH(kernel_name) (void)(kernel_name)
