#!/usr/bin/env bash
# Installs what is missing (Debian packages), builds radiossl's tests, examples and benchmarks, and
# runs every test with ctest. Usage: tools/run-tests.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bash tools/setup-debian.sh test
jobs=$(nproc)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
start=$(date +%s)
cmake --build "$build" -j "$jobs"
echo "build: $(( $(date +%s) - start )) s"
# Slowest translation units, so compile time stays visible (conventions C15).
if [ -f "$build/.ninja_log" ]; then
  echo "slowest compile steps (ms):"
  awk 'NR>1 {print $2-$1, $4}' "$build/.ninja_log" | sort -rn | head -5
fi
ctest --test-dir "$build" -j "$jobs" --output-on-failure --timeout 900
