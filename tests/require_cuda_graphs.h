// EMBER_REQUIRE_CUDA_GRAPHS() skips a test with the reason when CUDA graphs cannot run in this
// process: no GPU, or a debug mode a capture cannot work under (EMBER_CUDA_ALLOCATOR=direct or
// deferred, which the GPU check's compute-sanitizer and reuse steps set; EMBER_CUDA_SYNC). The
// same rule GraphedStep uses to fall back to eager steps (training/graphed_step.h).
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "tests/device_compare.h"
#include "training/graphed_step.h"

#define EMBER_REQUIRE_CUDA_GRAPHS()                                                        \
  do {                                                                                     \
    EMBER_REQUIRE_CUDA();                                                                  \
    const std::string ember_graphs_reason_ =                                               \
        ::ember::training::cuda_graphs_unavailable_reason(::ember::Device::cuda(0));       \
    if (!ember_graphs_reason_.empty())                                                     \
      GTEST_SKIP() << "CUDA graphs not exercised: " << ember_graphs_reason_;               \
  } while (0)
