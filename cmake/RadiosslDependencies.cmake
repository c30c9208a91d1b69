# Finds every dependency of radiossl and lists the targets its INTERFACE library links.
# Used both by the build (CMakeLists.txt) and by the installed package config, so that a consumer's
# find_package(radiossl) re-finds exactly what the build found.
# CMake 3.30+: find Boost through its own BoostConfig.cmake, not the removed FindBoost module. Set before the
# include: find_dependency's macros run with the policies in force where they were defined.
if(POLICY CMP0167)
  cmake_policy(SET CMP0167 NEW)
endif()
include(CMakeFindDependencyMacro)

find_dependency(Threads)
find_dependency(Torch)                 # imported target `torch` (no namespace), carries the ABI flag
find_dependency(range-v3)
find_dependency(Boost 1.74)            # Boost::headers (Hana)
find_dependency(nlohmann_json 3)
find_dependency(PNG)
find_dependency(PkgConfig)
if(NOT TARGET PkgConfig::CFITSIO)
  pkg_check_modules(CFITSIO REQUIRED IMPORTED_TARGET GLOBAL cfitsio)
endif()
if(NOT TARGET PkgConfig::WCSLIB)
  pkg_check_modules(WCSLIB REQUIRED IMPORTED_TARGET GLOBAL wcslib)
endif()

# Multi-process training (include/radiossl/dist/): LibTorch's c10d::ProcessGroupGloo is compiled
# into libtorch_cpu, but its header needs the gloo headers (Debian: libgloo-dev; some LibTorch
# builds ship them under their own include/) and USE_C10D_GLOO. Without them radiossl still
# builds, and only a multi-process launch fails (with a message saying so). -DRADIOSSL_NO_GLOO=ON
# skips the search (a LibTorch whose c10d headers do not match its gloo ones).
if(NOT TARGET radiossl::gloo AND RADIOSSL_NO_GLOO)
  add_library(radiossl::gloo INTERFACE IMPORTED GLOBAL)
  message(STATUS "radiossl: RADIOSSL_NO_GLOO: multi-process training disabled")
elseif(NOT TARGET radiossl::gloo)
  find_path(RADIOSSL_GLOO_INCLUDE_DIR gloo/context.h HINTS ${TORCH_INSTALL_PREFIX}/include)
  find_library(RADIOSSL_GLOO_LIBRARY gloo HINTS ${TORCH_INSTALL_PREFIX}/lib)
  find_path(RADIOSSL_C10D_INCLUDE_DIR torch/csrc/distributed/c10d/ProcessGroupGloo.hpp HINTS ${TORCH_INCLUDE_DIRS})
  add_library(radiossl::gloo INTERFACE IMPORTED GLOBAL)
  if(RADIOSSL_GLOO_INCLUDE_DIR AND RADIOSSL_C10D_INCLUDE_DIR)
    set_target_properties(radiossl::gloo PROPERTIES
      INTERFACE_COMPILE_DEFINITIONS "RADIOSSL_HAVE_GLOO;USE_C10D_GLOO"
      INTERFACE_INCLUDE_DIRECTORIES "${RADIOSSL_GLOO_INCLUDE_DIR}")
    if(RADIOSSL_GLOO_LIBRARY)   # the headers' inline code may reference gloo's own symbols
      set_target_properties(radiossl::gloo PROPERTIES INTERFACE_LINK_LIBRARIES "${RADIOSSL_GLOO_LIBRARY}")
    endif()
  else()
    message(STATUS "radiossl: gloo headers not found: multi-process training disabled (Debian: libgloo-dev)")
  endif()
endif()

# Multi-GPU training (include/radiossl/dist/): c10d::ProcessGroupNCCL is compiled into LibTorch's
# libtorch_cuda, but its header needs nccl.h and the CUDA headers (a CUDA toolkit, or the nvidia-*
# packages beside a pip PyTorch: site-packages/nvidia/*/include) and USE_C10D_NCCL. Searched only
# when the LibTorch has CUDA; without them radiossl still builds and several processes use Gloo.
# -DRADIOSSL_NO_NCCL=ON skips the search.
find_library(RADIOSSL_TORCH_CUDA_LIBRARY torch_cuda HINTS ${TORCH_INSTALL_PREFIX}/lib NO_DEFAULT_PATH)
file(GLOB _radiossl_cuda_hints LIST_DIRECTORIES true "${TORCH_INSTALL_PREFIX}/../nvidia/*/include")
list(APPEND _radiossl_cuda_hints $ENV{CUDA_HOME}/include /usr/local/cuda/include)
if(NOT TARGET radiossl::nccl)
  add_library(radiossl::nccl INTERFACE IMPORTED GLOBAL)
  if(RADIOSSL_NO_NCCL)
    message(STATUS "radiossl: RADIOSSL_NO_NCCL: NCCL process groups disabled")
  elseif(RADIOSSL_TORCH_CUDA_LIBRARY)
    set(_radiossl_nccl_dirs "")
    set(_radiossl_nccl_missing "")
    foreach(_h torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp nccl.h cuda.h cuda_runtime_api.h cublas_v2.h
               cublasLt.h cusparse.h cusolverDn.h)
      string(MAKE_C_IDENTIFIER "${_h}" _id)
      find_path(RADIOSSL_NCCL_INC_${_id} ${_h} HINTS ${TORCH_INCLUDE_DIRS} ${_radiossl_cuda_hints})
      if(RADIOSSL_NCCL_INC_${_id})
        list(APPEND _radiossl_nccl_dirs "${RADIOSSL_NCCL_INC_${_id}}")
      else()
        list(APPEND _radiossl_nccl_missing "${_h}")
      endif()
    endforeach()
    if(_radiossl_nccl_missing)
      message(STATUS "radiossl: CUDA LibTorch without ${_radiossl_nccl_missing}: NCCL process groups disabled")
    else()
      list(REMOVE_DUPLICATES _radiossl_nccl_dirs)
      set_target_properties(radiossl::nccl PROPERTIES
        INTERFACE_COMPILE_DEFINITIONS "RADIOSSL_HAVE_NCCL;USE_C10D_NCCL"
        INTERFACE_INCLUDE_DIRECTORIES "${_radiossl_nccl_dirs}")
      message(STATUS "radiossl: NCCL process groups enabled (headers: ${_radiossl_nccl_dirs})")
    endif()
  endif()
endif()

# CUDA graph capture (bench/graph_bench.cpp) includes LibTorch's ATen/cuda headers, which need the
# CUDA runtime's headers: found like NCCL's, only for a LibTorch with CUDA. Linked by the benchmark
# alone. -DRADIOSSL_NO_CUDA_GRAPHS=ON compiles the capture out (bench/gpu/run.sh falls back to it
# when that code does not build against the LibTorch at hand).
if(NOT TARGET radiossl::cuda_graphs)
  add_library(radiossl::cuda_graphs INTERFACE IMPORTED GLOBAL)
  if(RADIOSSL_NO_CUDA_GRAPHS)
    message(STATUS "radiossl: RADIOSSL_NO_CUDA_GRAPHS: CUDA graph capture compiled out")
  elseif(RADIOSSL_TORCH_CUDA_LIBRARY)
    find_path(RADIOSSL_CUDA_RUNTIME_INCLUDE_DIR cuda_runtime_api.h HINTS ${_radiossl_cuda_hints})
    if(RADIOSSL_CUDA_RUNTIME_INCLUDE_DIR)
      set_target_properties(radiossl::cuda_graphs PROPERTIES
        INTERFACE_COMPILE_DEFINITIONS RADIOSSL_HAVE_CUDA
        INTERFACE_INCLUDE_DIRECTORIES "${RADIOSSL_CUDA_RUNTIME_INCLUDE_DIR}")
      message(STATUS "radiossl: CUDA graph capture enabled (headers: ${RADIOSSL_CUDA_RUNTIME_INCLUDE_DIR})")
    else()
      message(STATUS "radiossl: CUDA LibTorch without cuda_runtime_api.h: CUDA graph capture compiled out")
    endif()
  endif()
endif()

# Winograd 3x3 convolutions (include/radiossl/backbone/winograd_conv.hpp) call oneDNN directly: the
# libdnnl.so.2 that Debian's LibTorch itself loads, with its headers from libdnnl-dev. Without them
# radiossl still builds, and the convolutions stay LibTorch's. -DRADIOSSL_NO_DNNL=ON skips the search
# (a LibTorch with its own oneDNN linked in, where a second copy would only add weight).
if(NOT TARGET radiossl::dnnl)
  add_library(radiossl::dnnl INTERFACE IMPORTED GLOBAL)
  if(RADIOSSL_NO_DNNL)
    message(STATUS "radiossl: RADIOSSL_NO_DNNL: Winograd convolutions disabled")
  else()
    find_path(RADIOSSL_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp)
    find_library(RADIOSSL_DNNL_LIBRARY NAMES dnnl libdnnl.so.2)
    # oneDNN 3.x dropped the x64 Winograd kernels (3.7 refuses convolution_winograd on AVX-512) and
    # changed the primitive API: only 2.x is used.
    set(_radiossl_dnnl_major "")
    if(RADIOSSL_DNNL_INCLUDE_DIR AND EXISTS "${RADIOSSL_DNNL_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h")
      file(STRINGS "${RADIOSSL_DNNL_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h" _radiossl_dnnl_major
           REGEX "^#define DNNL_VERSION_MAJOR ")
      string(REGEX REPLACE "^#define DNNL_VERSION_MAJOR ([0-9]+).*" "\\1" _radiossl_dnnl_major
             "${_radiossl_dnnl_major}")
    endif()
    if(RADIOSSL_DNNL_INCLUDE_DIR AND RADIOSSL_DNNL_LIBRARY AND NOT _radiossl_dnnl_major STREQUAL "2")
      message(STATUS "radiossl: oneDNN major version '${_radiossl_dnnl_major}' in ${RADIOSSL_DNNL_INCLUDE_DIR}: "
                     "Winograd convolutions disabled (they need oneDNN 2.x)")
    elseif(RADIOSSL_DNNL_INCLUDE_DIR AND RADIOSSL_DNNL_LIBRARY)
      set_target_properties(radiossl::dnnl PROPERTIES
        INTERFACE_COMPILE_DEFINITIONS RADIOSSL_HAVE_DNNL
        INTERFACE_INCLUDE_DIRECTORIES "${RADIOSSL_DNNL_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${RADIOSSL_DNNL_LIBRARY}")
    else()
      message(STATUS "radiossl: oneDNN headers not found: Winograd convolutions disabled (Debian: libdnnl-dev)")
    endif()
  endif()
endif()

set(RADIOSSL_DEPENDENCY_TARGETS torch range-v3::range-v3 Boost::headers nlohmann_json::nlohmann_json
    PNG::PNG PkgConfig::CFITSIO PkgConfig::WCSLIB Threads::Threads radiossl::gloo radiossl::nccl radiossl::dnnl)
