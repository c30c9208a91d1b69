# bench/gpu/torch-shim against a fake pip wheel laid out as PyTorch's CUDA 13 wheels are:
# site-packages/torch/{include,lib} and the CUDA runtime in site-packages/nvidia/cu13/lib, named by
# libc10_cuda's DT_NEEDED. The libraries are empty stubs built here. A program that calls the CUDA
# runtime directly must configure, link and run (no LD_LIBRARY_PATH: the run path must find libcudart).
set(work ${BINARY_DIR}/torch_shim_check)
set(site ${work}/site-packages)
file(REMOVE_RECURSE ${work})
file(MAKE_DIRECTORY ${site}/torch/lib ${site}/nvidia/cu13/lib ${site}/torch/include/torch/csrc/api/include/torch)
file(WRITE ${site}/torch/include/torch/csrc/api/include/torch/torch.h "#pragma once\n")
file(WRITE ${work}/cudart.cpp "extern \"C\" int cudaGetLastError() { return 0; }\n")
file(WRITE ${work}/c10_cuda.cpp "extern \"C\" int cudaGetLastError();\nint c10_cuda_stub() { return cudaGetLastError(); }\n")
file(WRITE ${work}/empty.cpp "int torch_stub() { return 0; }\n")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()
run(${CXX} -shared -fPIC -Wl,-soname,libcudart.so.13 -o ${site}/nvidia/cu13/lib/libcudart.so.13 ${work}/cudart.cpp)
foreach(lib torch torch_cpu c10 torch_cuda)
  run(${CXX} -shared -fPIC -o ${site}/torch/lib/lib${lib}.so ${work}/empty.cpp)
endforeach()
run(${CXX} -shared -fPIC -o ${site}/torch/lib/libc10_cuda.so ${work}/c10_cuda.cpp
    ${site}/nvidia/cu13/lib/libcudart.so.13 "-Wl,-rpath,$ORIGIN/../../nvidia/cu13/lib")

set(ENV{RADIOSSL_TORCH_ROOT} ${site}/torch)
set(ENV{RADIOSSL_TORCH_CXX11_ABI} 1)
run(${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR} -B ${work}/build -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX}
    -DTorch_DIR=${SOURCE_DIR}/bench/gpu/torch-shim)
run(${CMAKE_COMMAND} --build ${work}/build)
unset(ENV{LD_LIBRARY_PATH})
run(${work}/build/calls_cudart)
message(STATUS "torch-shim: a program calling the fake wheel's libcudart linked and ran")
