#!/usr/bin/env bash
# One training step per method: radiossl (bench/step_bench.cpp) vs its Python PyTorch peer
# (bench/step_peer.py, solo-learn's step in eager PyTorch, channels_last), batch 32, same threads,
# run interleaved (radiossl, peer, radiossl, peer, ...) so load swings hit both alike. Prints one
# markdown table: images/s of each (median over pairs) and the ratio radiossl/peer (median of the
# per-pair ratios, [min-max]).
#   bench/run_step_peer.sh [path/to/radiossl_bench]
#   METHODS="simclr byol" CONFIGS="resnet18:64" PAIRS=2 THREADS=2 bench/run_step_peer.sh
# Env: METHODS (simclr byol dino wmse swav all4one), CONFIGS (resnet18:64 resnet18:224 resnet50:224),
#      PAIRS (2), THREADS (2; also OMP_NUM_THREADS and RADIOSSL_BENCH_THREADS), MIN_TIME (seconds of
#      timed steps per run, at least one step; 3), LEAN=1 (peer without solo-learn's extra work, see
#      step_peer.py), PEER_ARGS (extra peer arguments, e.g. the W-MSE settings matching the bench).
# MODE=e2e: end to end from FITS files on disk instead (issue #4's epoch table): radiossl's e2e_bench
#      (threaded loader) against the peer's torch DataLoader with worker processes, both reading and
#      augmenting the same files while they train. FITS_DIR (default: 256 cut-outs of 256 px written
#      by bench/gpu/make_fits.py into BUILD_DIR), WORKERS (loader threads / DataLoader processes; 1).
# Without a path, radiossl_bench is built (Release) in BUILD_DIR (default build-bench-data, shared
# with run_data_peer.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench-data}
bench=${1:-$build/bench/radiossl_bench}
methods=${METHODS:-simclr byol dino wmse swav all4one}
configs=${CONFIGS:-resnet18:64 resnet18:224 resnet50:224}
pairs=${PAIRS:-2}
threads=${THREADS:-2}
min_time=${MIN_TIME:-3}
peer_args=${PEER_ARGS:-}
[ "${LEAN:-0}" = 1 ] && peer_args="$peer_args --lean"
py=/usr/bin/python3
mode=${MODE:-step}
export OMP_NUM_THREADS=$threads RADIOSSL_BENCH_THREADS=$threads
case "$mode" in
  step) bench_name=step_bench ;;
  e2e) bench_name=e2e_bench ;;
  *) echo "run_step_peer.sh: MODE=$mode (expected step or e2e)" >&2; exit 1 ;;
esac

if [ $# -eq 0 ] && [ ! -x "$bench" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DRADIOSSL_BUILD_TESTS=OFF -DRADIOSSL_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$build" -j1 --target radiossl_bench
fi
[ -x "$bench" ] || { echo "run_step_peer.sh: no radiossl_bench at $bench" >&2; exit 1; }
if [ "$mode" = e2e ]; then
  fits_dir=${FITS_DIR:-$build/e2e-fits-256}
  [ -n "${FITS_DIR:-}" ] || $py "$root/bench/gpu/make_fits.py" "$fits_dir" --count 256 --side 256 >&2
  workers=${WORKERS:-1}
  # e2e_bench's sizes come from RADIOSSL_BENCH_PX: every size of CONFIGS.
  px_list=$(for c in $configs; do echo "${c##*:}"; done | sort -un | paste -sd,)
  export RADIOSSL_BENCH_FITS_DIR=$fits_dir RADIOSSL_BENCH_WORKERS=$workers RADIOSSL_BENCH_PX=$px_list
  peer_args="$peer_args --fits-dir $fits_dir --workers $workers"
fi
pin=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge "$threads" ]; then pin="taskset -c 0-$((threads - 1))"; fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# W-MSE at batch 32: the bench whitens the whole batch with eps 1e-3 (see step_bench.cpp).
declare -A method_args=([wmse]="--wmse-whitening-size 32 --wmse-eps 1e-3")
declare -A cpp_method=([simclr]=SimCLR [byol]=BYOL [dino]=DINO [wmse]=WMSE [swav]=SwAV [all4one]=All4One)
declare -A cpp_arch=([resnet18]=ResNet18 [resnet50]=ResNet50)
for cfg in $configs; do
  arch=${cfg%%:*} px=${cfg##*:}
  for m in $methods; do
    if [ -z "${cpp_method[$m]:-}" ] || [ -z "${cpp_arch[$arch]:-}" ]; then
      echo "run_step_peer.sh: unknown method $m or backbone $arch" >&2
      exit 1
    fi
    key="${m}_${arch}_${px}"
    filter="^${bench_name}<backbone::${cpp_arch[$arch]}, method::${cpp_method[$m]}>/${px}/"
    for i in $(seq 1 "$pairs"); do
      echo "[$(date +%T)] $m $arch ${px}px pair $i/$pairs" >&2
      # In a subshell, so that an abort (a radiossl::Error escaping the bench) is reported in the table.
      ($pin "$bench" --benchmark_filter="$filter" --benchmark_min_time="$min_time" --benchmark_format=json; exit $?) \
          > "$out/cpp_${key}_$i.json" 2> "$out/cpp_${key}_$i.err" || true
      # shellcheck disable=SC2086  # peer_args is a list of words
      $pin $py "$root/bench/step_peer.py" --method "$m" --arch "$arch" --size "$px" --threads "$threads" \
          --iters 1 --min-seconds "$min_time" --json $peer_args ${method_args[$m]:-} \
          > "$out/py_${key}_$i.json" 2> "$out/py_${key}_$i.err" || true
    done
  done
done

$py - "$out" "$pairs" "$threads" "$configs" "$methods" "$mode" "${workers:-0}" <<'PY'
import json, statistics, sys
d, pairs, threads, configs, methods = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split(), sys.argv[5].split()
mode, workers = sys.argv[6], sys.argv[7]

def err(path):
    lines = [l.strip() for l in open(path).read().splitlines() if l.strip() and "WARNING" not in l]
    msg = [l for l in lines if "what():" in l or "step_peer:" in l or "Error" in l]
    line = (msg or lines or ["no output"])[-1].replace("what():", "").strip()
    return line[:100].replace("|", "/")

def cpp(key, i):
    try:
        return json.load(open(f"{d}/cpp_{key}_{i}.json"))["benchmarks"][0]["images_per_s"], None
    except Exception:
        return None, err(f"{d}/cpp_{key}_{i}.err")

def peer(key, i):
    try:
        r = json.loads(open(f"{d}/py_{key}_{i}.json").read().strip().splitlines()[-1])
        return r["images_per_s"], (None if r["loss_finite"] else f"loss {r['loss']}")
    except Exception:
        return None, err(f"{d}/py_{key}_{i}.err")

what = ("One training step" if mode == "step" else
        f"End to end from FITS files on disk ({workers} loader worker(s) each)")
print(f"{what}, batch 32, {threads} threads, median of {pairs} interleaved pairs:\n")
print("| method | backbone | px | radiossl img/s | peer img/s | ratio |")
print("|---|---|---|---|---|---|")
for cfg in configs:
    arch, px = cfg.split(":")
    for m in methods:
        key = f"{m}_{arch}_{px}"
        c = [cpp(key, i) for i in range(1, pairs + 1)]
        p = [peer(key, i) for i in range(1, pairs + 1)]
        cv = [v for v, _ in c if v is not None]
        pv = [v for v, e in p if v is not None and e is None]
        ratios = [cc / pp for (cc, _), (pp, pe) in zip(c, p) if cc is not None and pp is not None and pe is None]
        cs = f"{statistics.median(cv):.2f}" if cv else "fails: " + next(e for _, e in c if e)
        ps = f"{statistics.median(pv):.2f}" if pv else "fails: " + next(e for _, e in p if e)
        rs = (f"{statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]" if ratios else "-")
        print(f"| {m} | {arch} | {px} | {cs} | {ps} | {rs} |")
PY
