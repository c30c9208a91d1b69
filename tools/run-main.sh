#!/usr/bin/env bash
# The main job: installs what is missing (Debian packages), builds bench_grid in Release, and runs
# the whole benchmark grid (quick preset) on the embedded synthetic radio sky.
# Usage: tools/run-main.sh [extra bench_grid arguments, e.g. --preset smoke --out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-debian.sh build
cmake -S . -B build-main -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DRADIOSSL_BUILD_TESTS=OFF -DRADIOSSL_BUILD_BENCH=OFF
cmake --build build-main -j "$(nproc)" --target bench_grid
# OpenBLAS 0.3.21 (Debian 12) does not recognise recent Xeons and falls back to slow generic
# kernels; name the AVX-512 kernels when the CPU has them (LibTorch's Linear layers go through it).
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -q avx512f /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=SkylakeX
fi
exec build-main/examples/bench_grid --preset quick --out runs/quick --threads "$(nproc)" "$@"
