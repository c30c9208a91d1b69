# A stand-in for the TorchConfig.cmake of a pip/conda PyTorch, used by bench/gpu/run.sh when the CUDA
# toolkit (nvcc) is missing: the wheel's own config then fails looking for it, although radiossl
# compiles no CUDA code and only links LibTorch. It declares the same imported target `torch` from the
# wheel's headers and libraries; the CUDA runtime libraries are found at run time through the wheel's
# RPATHs, so they need not be found at link time (--allow-shlib-undefined), libcudart excepted (below).
# libtorch_cuda is linked with --no-as-needed: nothing references it directly, yet loading it registers
# the CUDA backend.
# Input (environment): RADIOSSL_TORCH_ROOT (the torch package folder), RADIOSSL_TORCH_CXX11_ABI (0/1).
set(_root "$ENV{RADIOSSL_TORCH_ROOT}")
if(NOT EXISTS "${_root}/include/torch/csrc/api/include/torch/torch.h")
  message(FATAL_ERROR "torch-shim: RADIOSSL_TORCH_ROOT='${_root}' has no include/torch/csrc/api/include/torch/torch.h")
endif()
set(TORCH_INSTALL_PREFIX "${_root}")
set(TORCH_INCLUDE_DIRS "${_root}/include" "${_root}/include/torch/csrc/api/include")
foreach(lib torch torch_cpu c10 torch_cuda c10_cuda)
  find_library(_torch_shim_${lib} ${lib} PATHS "${_root}/lib" NO_DEFAULT_PATH)
endforeach()
if(NOT _torch_shim_torch OR NOT _torch_shim_torch_cpu OR NOT _torch_shim_c10)
  message(FATAL_ERROR "torch-shim: libtorch, libtorch_cpu or libc10 missing in ${_root}/lib")
endif()
set(_links "${_torch_shim_torch_cpu}" "${_torch_shim_c10}")
if(_torch_shim_torch_cuda AND _torch_shim_c10_cuda)
  list(APPEND _links "-Wl,--no-as-needed,${_torch_shim_torch_cuda},${_torch_shim_c10_cuda},--as-needed")
endif()
list(APPEND _links "-Wl,--allow-shlib-undefined" "-Wl,-rpath,${_root}/lib")
# LibTorch's headers can inline CUDA runtime calls into the code that includes them: with 2.14's headers our
# objects call cudaGetLastError, cudaEventRecord, ... (c10::cuda::impl::CUDAGuardImpl), with 2.6's they did not.
# A linker resolves those only against a library on its command line, never through libc10_cuda's own
# dependency, so link the libcudart that libc10_cuda names (the wheel's nvidia-* package, or torch/lib for
# wheels that bundle it), with its folder on the run path.
if(_torch_shim_c10_cuda)
  file(STRINGS "${_torch_shim_c10_cuda}" _torch_shim_cudart_soname REGEX "^libcudart[-.0-9a-z]*\\.so[.0-9]*$"
       LIMIT_COUNT 1)
  set(_torch_shim_cudart "")
  if(_torch_shim_cudart_soname)
    file(GLOB _torch_shim_cudart "${_root}/lib/${_torch_shim_cudart_soname}"
         "${_root}/../nvidia/*/lib/${_torch_shim_cudart_soname}")
  endif()
  if(_torch_shim_cudart)
    list(GET _torch_shim_cudart 0 _torch_shim_cudart)
    get_filename_component(_torch_shim_cudart_dir "${_torch_shim_cudart}" DIRECTORY)
    list(APPEND _links "${_torch_shim_cudart}" "-Wl,-rpath,${_torch_shim_cudart_dir}")
    message(STATUS "torch-shim: CUDA runtime ${_torch_shim_cudart}")
  else()
    message(STATUS "torch-shim: the CUDA runtime libc10_cuda needs ('${_torch_shim_cudart_soname}') is not in "
                   "${_root}/lib or ${_root}/../nvidia/*/lib: code that inlines CUDA runtime calls will not link")
  endif()
endif()
if(NOT TARGET torch)
  add_library(torch SHARED IMPORTED)
  set_target_properties(torch PROPERTIES
    IMPORTED_LOCATION "${_torch_shim_torch}"
    INTERFACE_INCLUDE_DIRECTORIES "${TORCH_INCLUDE_DIRS}"
    INTERFACE_COMPILE_OPTIONS "-D_GLIBCXX_USE_CXX11_ABI=$ENV{RADIOSSL_TORCH_CXX11_ABI}"
    INTERFACE_LINK_LIBRARIES "${_links}")
endif()
set(TORCH_LIBRARIES torch)
set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=$ENV{RADIOSSL_TORCH_CXX11_ABI}")
set(Torch_FOUND TRUE)
