#!/usr/bin/env bash
# Data pipeline: radiossl vs a Python peer (astropy + torchvision), same files, same run.
# Builds radiossl_bench in its own Release tree (build-bench-data), then runs the C++ benchmark
# and the peer interleaved (C++ Python C++ Python ...), each on one core, and prints both rates
# and their ratio (median over pairs; per-pair ratios hold under load swings, absolute rates don't).
#   PAIRS=3 SECONDS_PER_RUN=3 bench/run_data_peer.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench-data}
pairs=${PAIRS:-3}
secs=${SECONDS_PER_RUN:-3}
py=/usr/bin/python3
export RADIOSSL_BENCH_DATA_DIR=${RADIOSSL_BENCH_DATA_DIR:-${TMPDIR:-/tmp}/radiossl_bench_data}

if [ ! -x "$build/bench/radiossl_bench" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DRADIOSSL_BUILD_TESTS=OFF -DRADIOSSL_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$build" -j1 --target radiossl_bench
fi
pin=""
command -v taskset >/dev/null && pin="taskset -c 0"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Writes the bench files on first use.
"$build/bench/radiossl_bench" --benchmark_filter='BM_data_fits_read' --benchmark_min_time=0.05 >/dev/null
for i in $(seq 0 "$pairs"); do   # pair 0 is a warm-up, not counted
  $pin "$build/bench/radiossl_bench" --benchmark_filter='BM_data_(fits_two_views|fits_read|augment_two_views)$' \
      --benchmark_min_time="$secs" --benchmark_format=json > "$out/cpp_$i.json"
  $pin $py "$root/bench/data_peer.py" "$RADIOSSL_BENCH_DATA_DIR" --seconds "$secs" > "$out/py_$i.json"
  $pin $py "$root/bench/data_peer.py" "$RADIOSSL_BENCH_DATA_DIR" --seconds "$secs" --ftz > "$out/pyftz_$i.json"
  # The peer with radiossl's process settings too: FTZ and glibc keeping freed buffers.
  MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=536870912 \
    $pin $py "$root/bench/data_peer.py" "$RADIOSSL_BENCH_DATA_DIR" --seconds "$secs" --ftz > "$out/pytuned_$i.json"
done
"$build/bench/radiossl_bench" --benchmark_filter='BM_data_loader/32/1/' --benchmark_min_time="$secs" \
    --benchmark_format=json > "$out/loader.json"

$py - "$out" "$pairs" <<'PY'
import json, statistics, sys
d, pairs = sys.argv[1], int(sys.argv[2])
def cpp(i, name):
    for b in json.load(open(f"{d}/cpp_{i}.json"))["benchmarks"]:
        if b["name"] == name:
            return b["items_per_second"]
rows = []
for i in range(1, pairs + 1):
    c = cpp(i, "BM_data_fits_two_views")
    p = json.loads(open(f"{d}/py_{i}.json").read())["images_per_cpu_s"]
    f = json.loads(open(f"{d}/pyftz_{i}.json").read())["images_per_cpu_s"]
    t = json.loads(open(f"{d}/pytuned_{i}.json").read())["images_per_cpu_s"]
    rows.append((c, p, f, cpp(i, "BM_data_fits_read"), cpp(i, "BM_data_augment_two_views"), t))
med = lambda k: statistics.median(r[k] for r in rows)
rng = lambda vals: f"[{min(vals):.1f}-{max(vals):.1f}]"
r1 = [r[0] / r[1] for r in rows]; r2 = [r[0] / r[2] for r in rows]; r3 = [r[0] / r[5] for r in rows]
loader = [b for b in json.load(open(f"{d}/loader.json"))["benchmarks"]][0]["items_per_second"]
print(f"FITS read + preprocess + 2 views 224x224, images/s per core (median of {pairs} pairs):")
print(f"  radiossl                          {med(0):9.1f}   (FITS read alone {med(3):.0f}/s, preprocess+augment alone {med(4):.0f}/s)")
print(f"  astropy + torchvision             {med(1):9.1f}")
print(f"  astropy + torchvision, FTZ on     {med(2):9.1f}")
print(f"  astropy + torchvision, FTZ+malloc {med(5):9.1f}")
print(f"  ratio radiossl / peer             {statistics.median(r1):9.1f}x {rng(r1)}")
print(f"  ratio radiossl / peer (FTZ)       {statistics.median(r2):9.1f}x {rng(r2)}")
print(f"  ratio radiossl / peer (FTZ+malloc){statistics.median(r3):9.1f}x {rng(r3)}")
print(f"one loader worker (batches of 32 SimCLR pairs, 3 channels): {loader:.1f} images/s "
      f"(a ResNet-18 SimCLR step at 224 consumes ~9 images/s on this machine)")
PY
