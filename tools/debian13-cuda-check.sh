#!/usr/bin/env bash
# Run by tools/check-debian13.sh --cuda inside its Debian 13 chroot, after the CPU build in /tmp/radiossl-build.
# It compiles the code that needs a CUDA LibTorch (the NCCL process group in tests/dist.cpp and tests/grid_dist.cpp,
# and CUDA graph capture in bench/graph_bench.cpp). The headers come from Debian 13's CUDA LibTorch (contrib
# libtorch-cuda-dev), CUDA (non-free nvidia-cuda-dev, libcu++-dev) and NCCL (contrib libnccl-dev), downloaded and
# unpacked into /opt/radiossl-cuda but not installed. It then checks that the CUDA LibTorch's libraries export every
# LibTorch symbol the objects need.
set -euo pipefail
cuda_pkg=libtorch-cuda-$(dpkg-query -W -f '${Version}' libtorch-dev | cut -d. -f1,2)   # libtorch-cuda-2.6
if [ ! -f /opt/radiossl-cuda/.done ]; then
  rm -rf /opt/radiossl-cuda /tmp/cuda-debs
  mkdir -p /opt/radiossl-cuda/lib /tmp/cuda-debs
  cd /tmp/cuda-debs
  apt-get download libtorch-cuda-dev "$cuda_pkg" nvidia-cuda-dev libcu++-dev libnccl-dev > /dev/null
  for d in ./*.deb; do dpkg-deb -x "$d" x; done
  mv x/usr/include /opt/radiossl-cuda/include
  mv x/usr/lib/x86_64-linux-gnu/lib{c10,torch}*.so.* /opt/radiossl-cuda/lib/
  cd /
  rm -rf /tmp/cuda-debs
  touch /opt/radiossl-cuda/.done
fi

cd /tmp/radiossl-build
mkdir -p /tmp/radiossl-cuda-objs
cuda_flags="-isystem /opt/radiossl-cuda/include -isystem /opt/radiossl-cuda/include/torch/csrc/api/include"
cuda_flags+=" -DRADIOSSL_HAVE_NCCL -DUSE_C10D_NCCL -DRADIOSSL_HAVE_CUDA"
for obj in tests/CMakeFiles/radiossl_tests.dir/dist.cpp.o tests/CMakeFiles/radiossl_tests.dir/grid_dist.cpp.o \
           bench/CMakeFiles/radiossl_bench.dir/graph_bench.cpp.o; do
  out=/tmp/radiossl-cuda-objs/$(basename "$obj")
  # The CPU build's command without ccache and the precompiled header, with the CUDA headers first.
  cmd=$(ninja -t commands "$obj" | tail -1 | sed -e 's|^.* /usr/bin/ccache ||' \
        -e 's| -Winvalid-pch -include [^ ]*cmake_pch.hxx||' -e 's| -MD -MT [^ ]* -MF [^ ]*||' \
        -e "s| -o [^ ]*| -o $out|" -e "s|^\([^ ]*\) |\1 $cuda_flags |")
  eval "$cmd"
  echo "debian13-cuda-check: compiled $obj against $cuda_pkg's headers"
done

for l in /opt/radiossl-cuda/lib/*.so.*.*.*; do nm -D --defined-only "$l" | awk '{print $3}'; done | sort -u \
  > /tmp/radiossl-cuda-objs/exported
nm -u /tmp/radiossl-cuda-objs/*.o | awk '$1 == "U" {print $2}' | grep -E '^_ZN?K?(2at|3c10|4c10d|5torch)' \
  | sort -u > /tmp/radiossl-cuda-objs/needed
missing=$(comm -23 /tmp/radiossl-cuda-objs/needed /tmp/radiossl-cuda-objs/exported)
echo "debian13-cuda-check: $(wc -l < /tmp/radiossl-cuda-objs/needed) LibTorch symbols needed," \
     "$(grep -c . <<< "$missing" || true) of them not exported by $cuda_pkg"
if [ -n "$missing" ]; then
  c++filt <<< "$missing"
  exit 1
fi
