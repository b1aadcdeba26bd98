# Sanitizer and fuzzing builds (docs/sanitizers-and-fuzzing.md; scripts/sanitize.sh and
# scripts/fuzz.sh drive them). Included before the CUDA backend is decided, because both force a
# CPU-only build.
#
# EMBER_SANITIZE: AddressSanitizer + UndefinedBehaviorSanitizer on every target, compile and link.
#   Any UB report aborts (-fno-sanitize-recover), so a test cannot pass with one.
# EMBER_FUZZ: the libFuzzer targets of fuzz/ (clang only). The library is instrumented for
#   coverage (-fsanitize=fuzzer-no-link) and built with ASan + UBSan too; the targets link
#   libFuzzer's main (-fsanitize=fuzzer).
#
# Both are CPU-only: the CUDA runtime maps large fixed regions and allocates through the driver,
# which collides with ASan's shadow memory unless special options are set
# (protect_shadow_gap=0 and more), and ASan cannot see device memory anyway;
# compute-sanitizer covers the GPU side (docs/memory.md). OpenBLAS and libgomp/libomp are
# prebuilt and uninstrumented: ASan then misses bugs inside them but reports none falsely.
option(EMBER_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer (CPU only)" OFF)
option(EMBER_FUZZ "Build the libFuzzer targets of fuzz/ (clang; CPU only; implies ASan+UBSan)" OFF)

if(EMBER_SANITIZE OR EMBER_FUZZ)
  if(EMBER_CUDA STREQUAL "ON")
    message(FATAL_ERROR "ember: EMBER_SANITIZE/EMBER_FUZZ build for the CPU only; "
                        "configure with -DEMBER_CUDA=OFF (or AUTO)")
  endif()
  set(EMBER_CUDA OFF CACHE STRING "Build the CUDA backend: AUTO, ON or OFF" FORCE)
  # -g1: line tables only, so reports name file:line without the build time and size of full
  # debug information.
  set(EMBER_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer -g1)
  add_compile_options(${EMBER_SANITIZE_FLAGS})
  add_link_options(${EMBER_SANITIZE_FLAGS})
  message(STATUS "ember: sanitizer build (ASan + UBSan, CPU only)")
endif()

if(EMBER_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "ember: EMBER_FUZZ needs clang (libFuzzer); configure with "
                        "-DCMAKE_CXX_COMPILER=clang++ (got ${CMAKE_CXX_COMPILER_ID})")
  endif()
  # Coverage instrumentation for everything; only the fuzz targets link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
