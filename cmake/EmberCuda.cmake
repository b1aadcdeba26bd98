# Decides whether the CUDA backend is built and finds cuBLAS and cuDNN.
# Sets EMBER_WITH_CUDA, CUDNN_INCLUDE_DIR, CUDNN_LIBRARY, and the target CUDA::cublas.
#
# cuDNN and cuBLAS are looked for in the CUDA toolkit and the system first. Where either is
# missing there, the pip wheels of a Python environment (PyTorch's dependencies) are tried:
#   <site-packages>/nvidia/cudnn/{include,lib}                   cuDNN (nvidia-cudnn-cu13, -cu12)
#   <site-packages>/nvidia/cu13/{include,lib}                    cuBLAS (CUDA 13 wheels)
#   <site-packages>/nvidia/cublas/{include,lib}                  cuBLAS (CUDA 12 wheels)
# The wheels hold only the versioned library names (libcudnn.so.9, libcublas.so.13), so those
# are searched by their full names. <site-packages> is EMBER_PYTHON_NVIDIA_ROOT when set (a list),
# else asked from EMBER_PYTHON (python3 on the PATH by default); a python without the nvidia
# package adds nothing. Libraries found in a wheel join the build RPATH, so the programs find
# them at run time without LD_LIBRARY_PATH (the wheels' own libraries find their siblings through
# their RUNPATH $ORIGIN).
set(EMBER_PYTHON_NVIDIA_ROOT "" CACHE STRING
    "Folders holding nvidia/ (a Python site-packages) where cuDNN/cuBLAS wheels are looked for")
set(EMBER_PYTHON "python3" CACHE STRING "The python whose site-packages may hold cuDNN/cuBLAS wheels")

# Sets <out> to the folders holding a nvidia/ package: EMBER_PYTHON_NVIDIA_ROOT, else what
# EMBER_PYTHON reports (empty when it is absent or has no nvidia package).
function(ember_python_nvidia_roots out)
  set(roots ${EMBER_PYTHON_NVIDIA_ROOT})
  if(NOT roots)
    find_program(EMBER_PYTHON_PROGRAM NAMES ${EMBER_PYTHON})
    if(EMBER_PYTHON_PROGRAM)
      # nvidia is a namespace package: each wheel may sit in another folder of sys.path.
      execute_process(
        COMMAND ${EMBER_PYTHON_PROGRAM} -c
                "import os, nvidia; print(';'.join(sorted({os.path.dirname(p) for p in nvidia.__path__})))"
        OUTPUT_VARIABLE roots OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
      if(NOT rc EQUAL 0)
        set(roots "")
      endif()
    endif()
  endif()
  set(${out} "${roots}" PARENT_SCOPE)
endfunction()

set(EMBER_WITH_CUDA OFF)
if(NOT EMBER_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  # CMake 3.25's FindCUDAToolkit marks CUDA::nvToolsExt deprecated without checking that it
  # exists, a configure error with CUDA 12.9+ (no libnvToolsExt), for projects requiring 3.25 or
  # newer; asked as one requiring 3.24, it skips that. (The development machine's copy of the
  # module is patched; a bare Debian 12's is not, which scripts/rehearse-gpu-check.sh found.)
  set(ember_cmake_minimum ${CMAKE_MINIMUM_REQUIRED_VERSION})
  if(CMAKE_VERSION VERSION_LESS 3.26)
    set(CMAKE_MINIMUM_REQUIRED_VERSION 3.24)
  endif()
  find_package(CUDAToolkit QUIET)
  set(CMAKE_MINIMUM_REQUIRED_VERSION ${ember_cmake_minimum})
  find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include
            PATH_SUFFIXES include)
  find_library(CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
  if(NOT CUDNN_INCLUDE_DIR OR NOT CUDNN_LIBRARY OR (CUDAToolkit_FOUND AND NOT TARGET CUDA::cublas))
    ember_python_nvidia_roots(ember_wheel_roots)
    message(STATUS "ember: cuDNN or cuBLAS not in the toolkit; looking in Python wheels under "
                   "'${ember_wheel_roots}'")
    set(ember_wheel_rpath)
    foreach(r ${ember_wheel_roots})
      find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${r}/nvidia/cudnn/include NO_DEFAULT_PATH)
      find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 HINTS ${r}/nvidia/cudnn/lib
                   NO_DEFAULT_PATH)
      if(CUDAToolkit_FOUND AND NOT TARGET CUDA::cublas)
        find_path(EMBER_CUBLAS_INCLUDE_DIR cublas_v2.h
                  HINTS ${r}/nvidia/cu13/include ${r}/nvidia/cublas/include NO_DEFAULT_PATH)
        find_library(EMBER_CUBLAS_LIBRARY NAMES cublas libcublas.so.13 libcublas.so.12
                     HINTS ${r}/nvidia/cu13/lib ${r}/nvidia/cublas/lib NO_DEFAULT_PATH)
        find_library(EMBER_CUBLASLT_LIBRARY NAMES cublasLt libcublasLt.so.13 libcublasLt.so.12
                     HINTS ${r}/nvidia/cu13/lib ${r}/nvidia/cublas/lib NO_DEFAULT_PATH)
        if(EMBER_CUBLAS_INCLUDE_DIR AND EMBER_CUBLAS_LIBRARY AND EMBER_CUBLASLT_LIBRARY)
          # The target FindCUDAToolkit would have made, from the wheel.
          add_library(CUDA::cublasLt SHARED IMPORTED)
          set_target_properties(CUDA::cublasLt PROPERTIES
                                IMPORTED_LOCATION ${EMBER_CUBLASLT_LIBRARY})
          add_library(CUDA::cublas SHARED IMPORTED)
          set_target_properties(CUDA::cublas PROPERTIES
                                IMPORTED_LOCATION ${EMBER_CUBLAS_LIBRARY}
                                INTERFACE_INCLUDE_DIRECTORIES ${EMBER_CUBLAS_INCLUDE_DIR}
                                INTERFACE_LINK_LIBRARIES "CUDA::cublasLt;CUDA::cudart")
          get_filename_component(dir ${EMBER_CUBLAS_LIBRARY} DIRECTORY)
          list(APPEND ember_wheel_rpath ${dir})
          message(STATUS "ember: cuBLAS from a wheel: ${EMBER_CUBLAS_LIBRARY}")
        endif()
      endif()
    endforeach()
    if(CUDNN_LIBRARY AND CUDNN_LIBRARY MATCHES "/nvidia/cudnn/lib/")
      get_filename_component(dir ${CUDNN_LIBRARY} DIRECTORY)
      list(APPEND ember_wheel_rpath ${dir})
      message(STATUS "ember: cuDNN from a wheel: ${CUDNN_LIBRARY}")
    endif()
    if(ember_wheel_rpath)
      list(REMOVE_DUPLICATES ember_wheel_rpath)
      list(APPEND CMAKE_BUILD_RPATH ${ember_wheel_rpath})
    endif()
  endif()
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
