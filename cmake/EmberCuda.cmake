# Decides whether the CUDA backend is built and finds cuBLAS and cuDNN.
# Sets EMBER_WITH_CUDA, CUDNN_INCLUDE_DIR, CUDNN_LIBRARY.
set(EMBER_WITH_CUDA OFF)
if(NOT EMBER_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  find_package(CUDAToolkit QUIET)
  find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include
            PATH_SUFFIXES include)
  find_library(CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
  if(CMAKE_CUDA_COMPILER AND CUDAToolkit_FOUND AND TARGET CUDA::cublas AND CUDNN_INCLUDE_DIR
     AND CUDNN_LIBRARY)
    enable_language(CUDA)
    # CMake 3.25 predates nvcc's C++20 support; nvcc 12+ takes -std=c++20, so teach it the flag.
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
    set(CMAKE_CUDA_STANDARD 20)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(EMBER_WITH_CUDA ON)
    message(STATUS "ember: CUDA backend ON (CUDA ${CUDAToolkit_VERSION}, archs ${CMAKE_CUDA_ARCHITECTURES}, cuDNN ${CUDNN_LIBRARY})")
  elseif(EMBER_CUDA STREQUAL "ON")
    message(FATAL_ERROR "ember: EMBER_CUDA=ON but nvcc, cuBLAS or cuDNN was not found "
                        "(nvcc='${CMAKE_CUDA_COMPILER}', cuDNN header='${CUDNN_INCLUDE_DIR}', "
                        "cuDNN library='${CUDNN_LIBRARY}')")
  else()
    message(STATUS "ember: CUDA backend OFF (nvcc, cuBLAS or cuDNN not found); CPU-only build")
  endif()
endif()
