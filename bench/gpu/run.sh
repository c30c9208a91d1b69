#!/usr/bin/env bash
# Training images/s per method for ResNet-18 and ResNet-50 at 224 px on one GPU: radiossl
# (bench/step_bench.cpp: step_bench, e2e_bench) next to a Python PyTorch eager peer of the same step
# (bench/step_peer.py: solo-learn's step with bf16 autocast and channels_last, as its bf16-mixed runs
# do), for the step alone and end to end from FITS files on disk (radiossl's threaded loader against a
# torch DataLoader with worker processes), and the fraction of the measured bf16 matmul rate
# (bench/gpu/matmul_rate.py) each step reaches. Then whether CUDA graph capture helps: the step's
# forward, loss and backward, and those with the LARS step, eager against replayed from one captured
# graph (bench/graph_bench.cpp).
# Prints two markdown tables on stdout, progress on stderr.
#
#   bench/gpu/run.sh                      on a CUDA machine, no network needed: builds radiossl_bench
#                                         (Release) against the CUDA LibTorch inside $PYTHON's torch
#                                         (torch.utils.cmake_prefix_path), then measures (about 6 min on a
#                                         16-core H200 machine before the graph table: build 1.5,
#                                         measurements 4.5; KINDS=graph measures that table alone)
#   bench/gpu/run.sh --build-only         the GPU run's build alone
#   RADIOSSL_TORCH_ROOT=DIR bench/gpu/run.sh --build-only
#                                         the same build without a GPU or a Python that imports torch:
#                                         DIR is a CUDA LibTorch laid out as a wheel's torch/ folder
#                                         (include/, lib/, its CUDA runtime in ../nvidia/*/lib), linked
#                                         through bench/gpu/torch-shim (tools/debian-cuda-check.sh makes
#                                         one from Debian 13's CUDA LibTorch and builds everything so)
#   BUILD_DIR=build bench/gpu/run.sh --cpu-check
#                                         every path but the CUDA-only ones, on CPU, in under a minute:
#                                         tiny sizes, float32, few steps, the radiossl_bench already built
#                                         in BUILD_DIR, /usr/bin/python3 (tests/gpu_script.cpp runs it).
#                                         Only ResNet-18 with SimCLR and BYOL (one method without and one
#                                         with a momentum teacher): all 6 methods x 2 backbones take about
#                                         5 min on 2 cores (METHODS=... ARCHS=... select them)
#
# Environment (defaults: GPU run [--cpu-check]):
#   PYTHON                python with torch and torchvision (astropy optional) [python3 | /usr/bin/python3]
#   BUILD_DIR             build tree [build-gpu | required: must hold bench/radiossl_bench]
#   RADIOSSL_DEPS_PREFIX  install prefixes (':' or ';' separated) with what the machine lacks: range-v3,
#                         Boost headers, nlohmann_json, CFITSIO, WCSLIB, libpng, Google Benchmark; added
#                         to CMAKE_PREFIX_PATH, PKG_CONFIG_PATH and LD_LIBRARY_PATH
#   RADIOSSL_DEBS         a folder of Debian .deb files carried to an offline machine (bench/gpu/fetch-debs.sh
#                         downloads them on a networked Debian 12 machine), unpacked with dpkg-deb -x into
#                         BUILD_DIR/deps and used
#                         like RADIOSSL_DEPS_PREFIX (their .pc files relocated there). Runtime libraries
#                         the machine already has (by soname, from ldconfig) are dropped so that its own
#                         are used; the list, with the rest of what was unpacked, goes to the log
#   BUILD                 0: measure with the radiossl_bench already in BUILD_DIR (carried from an earlier
#                         run on the same kind of machine) and only unpack RADIOSSL_DEBS [1]
#   KINDS                 which measurements [step e2e graph]
#   RADIOSSL_CMAKE_ARGS   more arguments for the configure step (e.g. -DRADIOSSL_NO_GLOO=ON)
#   RADIOSSL_TORCH_SHIM   1: link the wheel's LibTorch through bench/gpu/torch-shim (automatic when nvcc,
#                         which the wheel's own TorchConfig.cmake looks for, is missing)
#   METHODS               [simclr byol dino wmse swav all4one | simclr byol]
#   ARCHS                 [resnet18 resnet50 | resnet18]
#   BATCH [128 | 4]  PX [224 | 32]  MIN_TIME seconds per measurement [1 | 0.01]  THREADS [8 | 1]
#   WORKERS loader threads / DataLoader processes [nproc-2 | 1]  FILES FITS cut-outs [512 | 8]
#   JOBS                  build parallelism [nproc]
#   TARGETS               all: after radiossl_bench, build the tests and examples too (a check that they
#                         compile against this LibTorch, every error of every target: -k 0) and run the
#                         tests (TESTS); the measurements still run when any of that fails, and the
#                         script then exits 1 naming what failed [bench]
#   TESTS                 with TARGETS=all: all: the whole suite on CPU (ctest, the GPU hidden), then the
#                         tests tagged [gpu] (the NCCL process group on one rank); gpu: only those; none [all]
#   NCCL                  1: compile radiossl's NCCL process group (dist/process_group.hpp) when CMake finds
#                         nccl.h and the CUDA headers beside the wheel [1 with TARGETS=all, else 0: the
#                         benchmark runs one process and needs no process group]
#   GRAPHS                0: compile CUDA graph capture out (-DRADIOSSL_NO_CUDA_GRAPHS=ON) [1]. When
#                         radiossl_bench does not build, the capture and then the NCCL group are compiled
#                         out until it does, so that the tables still come; the exit status says so
# The C++ side needs a LibTorch with the C++11 string ABI (pip torch >= 2.7, conda, NGC containers):
# Debian's Google Benchmark is built with it; the script stops with a message otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mode=gpu
build_only=0
case "${1:-}" in
  --cpu-check) mode=cpu ;;
  --build-only) build_only=1 ;;
  "") ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "run.sh: unknown argument '$1' (expected --cpu-check, --build-only or nothing)" >&2; exit 2 ;;
esac
log() { echo "[$(date +%T)] $*" >&2; }
failed=""
t_start=$(date +%s)

if [ "$mode" = cpu ]; then
  py=${PYTHON:-/usr/bin/python3}
  build=${BUILD_DIR:?run.sh --cpu-check: set BUILD_DIR to a CPU build tree that holds bench/radiossl_bench}
  methods=${METHODS:-simclr byol}
  archs=${ARCHS:-resnet18}
  batch=${BATCH:-4} px=${PX:-32} min_time=${MIN_TIME:-0.01} threads=${THREADS:-1}
  workers=${WORKERS:-1} files=${FILES:-8} side=48
  device=cpu amp="" mm_args="--device cpu --dtype fp32 --n 256 --seconds 0.2" peer_iters=1
else
  py=${PYTHON:-python3}
  build=${BUILD_DIR:-$root/build-gpu}
  methods=${METHODS:-simclr byol dino wmse swav all4one}
  archs=${ARCHS:-resnet18 resnet50}
  ncpu=$(nproc)
  batch=${BATCH:-128} px=${PX:-224} min_time=${MIN_TIME:-1} threads=${THREADS:-8}
  workers=${WORKERS:-$((ncpu > 3 ? ncpu - 2 : 1))} files=${FILES:-512} side=256
  device=cuda amp="--amp --cudnn-benchmark" mm_args="--device cuda --dtype bf16 --n 8192 --seconds 2" peer_iters=3
fi
bench=$build/bench/radiossl_bench
torch_given=0
[ "$mode" = gpu ] && [ "$build_only" = 1 ] && [ -n "${RADIOSSL_TORCH_ROOT:-}" ] && torch_given=1
[ "$torch_given" = 1 ] || "$py" -c 'import torch, torchvision' 2>/dev/null ||
  { echo "run.sh: $py cannot import torch and torchvision (set PYTHON)" >&2; exit 1; }

# ---- build (GPU run only) ------------------------------------------------------------------------
if [ "$mode" = gpu ] && [ "$torch_given" = 1 ]; then
  [ -d "$RADIOSSL_TORCH_ROOT/include" ] && [ -d "$RADIOSSL_TORCH_ROOT/lib" ] ||
    { echo "run.sh: RADIOSSL_TORCH_ROOT='$RADIOSSL_TORCH_ROOT' is not a torch folder (include/ and lib/)" >&2; exit 1; }
  torch_root=$(cd "$RADIOSSL_TORCH_ROOT" && pwd) torch_cmake=$RADIOSSL_TORCH_ROOT/share/cmake
  torch_abi=${RADIOSSL_TORCH_CXX11_ABI:-1}
  torch_version=$(cd "$torch_root/lib" && ls libtorch_cpu.so.* 2> /dev/null | sed -n 's/^libtorch_cpu\.so\.//p' \
                  | sort -V | tail -1 || true)
  torch_version=${torch_version:-"(version unknown)"}
  RADIOSSL_TORCH_SHIM=1
elif [ "$mode" = gpu ]; then
  "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
    { echo "run.sh: $py's torch sees no CUDA device (use --cpu-check on a CPU machine)" >&2; exit 1; }
  read -r torch_cmake torch_root torch_abi torch_version < <("$py" -c '
import os, torch
print(torch.utils.cmake_prefix_path, os.path.dirname(torch.__file__), int(torch.compiled_with_cxx11_abi()), torch.__version__)')
fi
if [ "$mode" = gpu ]; then
  if [ "$torch_abi" != 1 ]; then
    echo "run.sh: torch $torch_version uses the pre-C++11 string ABI; Google Benchmark and the system" \
         "libraries use the C++11 one. Use a torch built with it (pip >= 2.7, conda, NGC)." >&2
    exit 1
  fi
  mkdir -p "$build"
  build=$(cd "$build" && pwd)   # absolute: CMake refuses relative include paths of the unpacked .deb files
  bench=$build/bench/radiossl_bench
  prefixes=$(echo "${RADIOSSL_DEPS_PREFIX:-}" | tr ':' ';')
  if [ -n "${RADIOSSL_DEBS:-}" ]; then
    deps=$build/deps
    log "unpacking $(ls "$RADIOSSL_DEBS"/*.deb | wc -l) .deb files from $RADIOSSL_DEBS into $deps"
    rm -rf "$deps"
    for d in "$RADIOSSL_DEBS"/*.deb; do dpkg-deb -x "$d" "$deps"; done
    multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
    lib=$deps/usr/lib/$multiarch
    mkdir -p "$lib"
    # Packages that still ship under /lib (zlib, bzip2): one library folder, as on a merged-/usr system.
    if [ -d "$deps/lib/$multiarch" ]; then cp -a "$deps/lib/$multiarch/." "$lib/"; rm -rf "$deps/lib"; fi
    # Absolute symlinks (libz.so -> /lib/...) would point at the machine's files: point them inside.
    find "$deps" -type l -lname '/*' | while read -r l; do
      t=$(readlink "$l"); t=${t#/lib/}; t=${t#/usr/lib/}; ln -sfn "$deps/usr/lib/$t" "$l"; done
    # At run time a library the machine has (same soname) is the machine's: only the missing ones go
    # on LD_LIBRARY_PATH (through $deps/runtime), so carried copies of libz, libssl and the like never
    # shadow newer system builds for the Python side. Linking still sees the whole unpacked tree.
    have=$(ldconfig -p 2>/dev/null | awk '/x86-64/ {print $1}' | sort -u)
    mkdir -p "$deps/runtime"
    kept="" own=""
    for f in "$lib"/lib*.so.*; do
      n=$(basename "$f")
      [[ $n =~ \.so\.[0-9]+$ || $n =~ \.so\.[0-9]*[a-z]+$ ]] || continue   # sonames only (libbenchmark.so.1debian)
      if grep -qxF "$n" <<< "$have"; then own="$own $n"; else ln -sfn "$f" "$deps/runtime/$n"; kept="$kept $n"; fi
    done
    log "libraries from the .deb files:${kept:- none}"
    log "the machine's own:${own:- none}"
    runtime_ld=$deps/runtime
    # Debian's .pc files say prefix=/usr: point them at the unpacked tree.
    find "$deps" -name '*.pc' -exec sed -i "s|=/usr|=$deps/usr|g; s| /usr/| $deps/usr/|g" {} +
    command -v pkg-config >/dev/null || export PATH="$deps/usr/bin:$PATH"
    prefixes="$deps/usr${prefixes:+;$prefixes}"
  fi
  pc_path="" ld_path="${runtime_ld:-}"
  IFS=';' read -ra plist <<< "$prefixes"
  for p in "${plist[@]}"; do
    [ -n "$p" ] || continue
    for sub in lib/x86_64-linux-gnu/pkgconfig lib/aarch64-linux-gnu/pkgconfig lib/pkgconfig lib64/pkgconfig share/pkgconfig; do
      [ -d "$p/$sub" ] && pc_path="$pc_path:$p/$sub"
    done
    [ "$p" = "${deps:-}/usr" ] && continue   # its runtime libraries are in runtime_ld
    for sub in lib/x86_64-linux-gnu lib/aarch64-linux-gnu lib lib64; do [ -d "$p/$sub" ] && ld_path="$ld_path:$p/$sub"; done
  done
  export PKG_CONFIG_PATH="${pc_path#:}${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export LD_LIBRARY_PATH="${ld_path#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # The system's g++ by default: the PATH's g++ on a CUDA image can be a wrapper around another
  # toolchain that links libstdc++ statically. A program holding its own libstdc++ next to the one
  # LibTorch loads crashed (SIGSEGV) at its first training step on the H200 image; /usr/bin/g++ of
  # the same version worked.
  if [ -z "${CXX:-}" ] && [ -x /usr/bin/g++ ]; then export CXX=/usr/bin/g++; fi
  torch_args=(-DCMAKE_PREFIX_PATH="$torch_cmake${prefixes:+;$prefixes}")
  if [ "${RADIOSSL_TORCH_SHIM:-}" = 1 ] || ! command -v nvcc >/dev/null; then
    log "linking torch $torch_version through bench/gpu/torch-shim (no nvcc, or RADIOSSL_TORCH_SHIM=1)"
    export RADIOSSL_TORCH_ROOT=$torch_root RADIOSSL_TORCH_CXX11_ABI=$torch_abi
    torch_args+=(-DTorch_DIR="$root/bench/gpu/torch-shim")
  fi
  everything=OFF
  [ "${TARGETS:-bench}" = all ] && everything=ON
  no_nccl=ON
  [ "${NCCL:-$([ $everything = ON ] && echo 1 || echo 0)}" = 1 ] && no_nccl=OFF
  no_graphs=OFF
  [ "${GRAPHS:-1}" = 1 ] || no_graphs=ON
  if [ "${BUILD:-1}" != 0 ]; then
    log "building radiossl_bench against torch $torch_version ($torch_root) with $(${CXX:-c++} --version | head -1) in $build"
    # CMAKE_POLICY_VERSION_MINIMUM: CMake 4 (pip's) refuses dependency configs written for CMake < 3.5.
    cmake -S "$root" -B "$build" -G "$(command -v ninja >/dev/null && echo Ninja || echo 'Unix Makefiles')" \
          -DCMAKE_BUILD_TYPE=Release -DRADIOSSL_BUILD_TESTS=$everything -DRADIOSSL_BUILD_EXAMPLES=$everything \
          -DRADIOSSL_BUILD_BENCH=ON -DRADIOSSL_INSTALL=OFF -DRADIOSSL_WERROR=OFF \
          -DRADIOSSL_NO_NCCL=$no_nccl -DRADIOSSL_NO_CUDA_GRAPHS=$no_graphs -DCMAKE_POLICY_VERSION_MINIMUM=3.5 "${torch_args[@]}" ${RADIOSSL_CMAKE_ARGS:-} >&2
    # radiossl_bench first, so that the tables come even when another target does not build. The
    # code no GPU has run yet is compiled out, one part at a time, until it builds.
    bench_build() { cmake --build "$build" -j "${JOBS:-$(nproc)}" --target radiossl_bench >&2; }
    if ! bench_build; then
      built=0
      for part in graphs nccl; do
        flag=RADIOSSL_NO_NCCL what="the NCCL process group"
        [ $part = graphs ] && flag=RADIOSSL_NO_CUDA_GRAPHS what="CUDA graph capture"
        var=no_$part
        [ "${!var}" = OFF ] || continue   # already compiled out
        log "radiossl_bench did not build (errors above): building it again with -D$flag=ON"
        cmake "$build" -D$flag=ON >&2
        printf -v "$var" ON
        failed="${failed}$what, compiled out when radiossl_bench did not build (errors above); "
        if bench_build; then built=1; break; fi
      done
      [ $built = 1 ] || { echo "run.sh: radiossl_bench does not build against torch $torch_version (errors above)" >&2; exit 1; }
    fi
    if [ "$everything" = ON ]; then
      keep_going=(-k); [ -f "$build/build.ninja" ] && keep_going=(-k 0)   # every error of every target
      if ! cmake --build "$build" -j "${JOBS:-$(nproc)}" -- "${keep_going[@]}" >&2; then
        failed="${failed}the build of the tests and examples (errors above); "
      else
        if [ "${TESTS:-all}" = all ]; then
          # The suite's tests are written for a CPU (bit-identical resumes, CPU tensors through Gloo):
          # the GPU hidden, it checks this LibTorch's CPU paths. Without Gloo (a wheel's LibTorch) the
          # multi-process tests warn and pass.
          log "the test suite on CPU against torch $torch_version (CUDA_VISIBLE_DEVICES empty)"
          if command -v ctest >/dev/null; then
            (cd "$build" && CUDA_VISIBLE_DEVICES= ctest -j "${JOBS:-$(nproc)}" --output-on-failure >&2) ||
              failed="${failed}the test suite on CPU (ctest output above); "
          else   # one process: the same tests without ctest's compile-fail and install checks
            CUDA_VISIBLE_DEVICES= "$build/tests/radiossl_tests" >&2 || failed="${failed}the test suite on CPU; "
          fi
        fi
        if [ "${TESTS:-all}" != none ]; then
          log "tests tagged [gpu] (the NCCL process group on one rank)"
          "$build/tests/radiossl_tests" "[gpu]" >&2 || failed="${failed}the tests tagged [gpu]; "
        fi
      fi
    fi
    log "built in $(( $(date +%s) - t_start )) s${failed:+; failed: $failed}"
    if command -v readelf >/dev/null && ! readelf -d "$bench" | grep -q 'libstdc++'; then
      log "warning: $bench links libstdc++ statically ($CXX): expect crashes next to LibTorch's; set CXX to the system g++"
    fi
  fi
  if [ "$build_only" = 1 ]; then
    [ -z "$failed" ] || { echo "run.sh: failed: $failed" >&2; exit 1; }
    exit 0
  fi
fi
[ -x "$bench" ] || { echo "run.sh: no radiossl_bench at $bench (build it: cmake --build $build --target radiossl_bench)" >&2; exit 1; }

# ---- measure --------------------------------------------------------------------------------------
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
t_measure=$(date +%s)
fits=$build/gpu-bench-fits-$side
log "FITS cut-outs: $files of ${side}x$side in $fits"
"$py" "$root/bench/gpu/make_fits.py" "$fits" --count "$files" --side "$side"
log "matmul rate: $mm_args"
"$py" "$root/bench/gpu/matmul_rate.py" $mm_args --threads "$threads" > "$out/matmul.json"

declare -A cpp_method=([simclr]=SimCLR [byol]=BYOL [dino]=DINO [wmse]=WMSE [swav]=SwAV [all4one]=All4One)
declare -A cpp_arch=([resnet18]=ResNet18 [resnet50]=ResNet50)
alt=""
for m in $methods; do
  [ -n "${cpp_method[$m]:-}" ] || { echo "run.sh: unknown method '$m'" >&2; exit 2; }
  alt="$alt${alt:+|}${cpp_method[$m]}"
done
method_list=$(echo "$methods" | tr -s ' ' ',')
export RADIOSSL_BENCH_DEVICE=$device RADIOSSL_BENCH_BATCH=$batch RADIOSSL_BENCH_PX=$px \
       RADIOSSL_BENCH_THREADS=$threads RADIOSSL_BENCH_WORKERS=$workers RADIOSSL_BENCH_FITS_DIR=$fits \
       RADIOSSL_BENCH_CUDNN_BENCHMARK=1 OMP_NUM_THREADS=$threads
# W-MSE whitens the whole batch with eps 1e-3 on both sides (see step_bench.cpp).
peer=("$root/bench/step_peer.py" --method "$method_list" --size "$px" --batch "$batch" --threads "$threads"
      --device "$device" $amp --iters "$peer_iters" --min-seconds "$min_time" --json
      --wmse-whitening-size "$batch" --wmse-eps 1e-3)
kinds=" ${KINDS:-step e2e graph} "
for arch in $archs; do
  [ -n "${cpp_arch[$arch]:-}" ] || { echo "run.sh: unknown backbone '$arch'" >&2; exit 2; }
  for kind in step e2e; do
    [[ $kinds == *" $kind "* ]] || continue
    log "$arch $kind: radiossl ($methods)"
    # In a subshell: an abort is reported in the table, not the end of the script.
    ("$bench" --benchmark_filter="^${kind}_bench<backbone::${cpp_arch[$arch]}, method::($alt)>/$px/" \
        --benchmark_min_time="$min_time" --benchmark_format=json; exit $?) \
        > "$out/cpp_${arch}_$kind.json" 2> "$out/cpp_${arch}_$kind.err" || true
    log "$arch $kind: peer"
    extra=(--flops)
    [ "$kind" = e2e ] && extra=(--fits-dir "$fits" --workers "$workers")
    ("$py" "${peer[@]}" --arch "$arch" "${extra[@]}"; exit $?) \
        > "$out/py_${arch}_$kind.json" 2> "$out/py_${arch}_$kind.err" || true
  done
  [[ $kinds == *" graph "* ]] || continue
  for m in $methods; do
    # One process per method: a capture that fails must not leave the next one a broken context.
    log "$arch graph: radiossl $m, eager and captured"
    ("$bench" --benchmark_filter="^graph_bench<backbone::${cpp_arch[$arch]}, method::${cpp_method[$m]}>/$px/" \
        --benchmark_min_time="$min_time" --benchmark_format=json; exit $?) \
        > "$out/graph_${arch}_$m.json" 2> "$out/graph_${arch}_$m.err" || true
  done
done

"$py" - "$out" "$methods" "$archs" "$px" "$batch" "$workers" "$mode" "$(( $(date +%s) - t_measure ))" <<'PY'
import json, os, re, sys
d, methods, archs, px, batch, workers, mode, secs = sys.argv[1:]
methods, archs = methods.split(), archs.split()
cpp_name = {"simclr": "SimCLR", "byol": "BYOL", "dino": "DINO", "wmse": "WMSE", "swav": "SwAV", "all4one": "All4One"}
arch_name = {"resnet18": "ResNet-18", "resnet50": "ResNet-50"}

def last_error(path):
    try:
        lines = [l.strip() for l in open(path).read().splitlines() if l.strip() and "WARNING" not in l]
    except OSError:
        lines = []
    msg = [l for l in lines if any(k in l for k in ("step_bench:", "graph_bench:", "step_peer:", "Error", "what():"))]
    return (msg or lines or ["no output"])[-1].replace("what():", "").replace("|", "/").strip()[:90]

def first_line(msg):
    """A benchmark's error in one table cell: c10's messages go on with a backtrace."""
    return ((msg or "failed").strip().splitlines() or ["failed"])[0].replace("|", "/")[:90]

def cpp(arch, kind):
    if not os.path.exists(f"{d}/cpp_{arch}_{kind}.json"):  # not asked for (KINDS)
        return {m: (None, None) for m in methods}
    res = {}
    try:
        for b in json.load(open(f"{d}/cpp_{arch}_{kind}.json"))["benchmarks"]:
            m = re.search(r"method::(\w+)>", b["name"])
            key = next((k for k, v in cpp_name.items() if m and v == m.group(1)), None)
            if key:
                res[key] = (None, first_line(b.get("error_message"))) if b.get("error_occurred") else (b["images_per_s"], None)
    except Exception:
        pass
    err = last_error(f"{d}/cpp_{arch}_{kind}.err")
    return {m: res.get(m, (None, err)) for m in methods}

def peer(arch, kind):
    if not os.path.exists(f"{d}/py_{arch}_{kind}.json"):
        return {m: (None, None, None) for m in methods}
    res = {}
    try:
        for line in open(f"{d}/py_{arch}_{kind}.json"):
            r = json.loads(line)
            if "error" in r:
                res[r["method"]] = (None, r["error"][:90], None)
            elif not r["loss_finite"]:
                res[r["method"]] = (None, f"loss {r['loss']}", None)
            else:
                res[r["method"]] = (r["images_per_s"], None, r.get("flops_per_image"))
    except Exception:
        pass
    err = last_error(f"{d}/py_{arch}_{kind}.err")
    return {m: res.get(m, (None, err, None)) for m in methods}

mm = json.load(open(f"{d}/matmul.json"))
rate = mm["flops_per_s"]
rate_text = f"{rate / 1e12:.1f} TFLOP/s" if rate >= 1e12 else f"{rate / 1e9:.1f} GFLOP/s"
fmt = lambda v, e: f"{v:.1f}" if v is not None else (f"fails: {e}" if e else "-")
ratio = lambda a, b: f"{a / b:.2f}" if a and b else "-"
frac = lambda v, f: f"{100 * v * f / rate:.1f}%" if v and f else "-"
dtype = "bf16" if mode == "gpu" else "fp32 (--cpu-check)"
print(f"Training images/s, {px} px, batch {batch}, on {mm['name']}; {dtype} matmul rate "
      f"{rate_text} (N={mm['n']}); end to end from FITS with {workers} loader workers "
      f"(radiossl threads, peer DataLoader processes); measured in {secs} s.\n")
print("| backbone | method | step radiossl | step peer | step ratio | e2e radiossl | e2e peer | e2e ratio "
      "| step % of matmul rate (radiossl / peer) |")
print("|---|---|---|---|---|---|---|---|---|")
for arch in archs:
    cs, ps, ce, pe = cpp(arch, "step"), peer(arch, "step"), cpp(arch, "e2e"), peer(arch, "e2e")
    for m in methods:
        flops = ps[m][2]
        print(f"| {arch_name[arch]} | {cpp_name[m]} | {fmt(*cs[m])} | {fmt(*ps[m][:2])} | {ratio(cs[m][0], ps[m][0])} "
              f"| {fmt(*ce[m])} | {fmt(*pe[m][:2])} | {ratio(ce[m][0], pe[m][0])} "
              f"| {frac(cs[m][0], flops)} / {frac(ps[m][0], flops)} |")
print("\nModel FLOPs per image (peer's count of conv and linear layers, forward x3 where trained) x images/s "
      "/ matmul rate; ratio = radiossl / peer.")

def graph(arch, m):
    """Modes 0-3 (bench/graph_bench.cpp): each (images/s, None) or (None, reason)."""
    path = f"{d}/graph_{arch}_{m}.json"
    res = {}
    try:
        for b in json.load(open(path))["benchmarks"]:
            g = re.search(r"/\d+/([0-3])", b["name"])
            if g:
                res[g.group(1)] = ((None, first_line(b.get("error_message"))) if b.get("error_occurred")
                                   else (b["images_per_s"], None))
    except Exception:
        pass
    err = last_error(f"{d}/graph_{arch}_{m}.err")
    return [res.get(str(mode), (None, err)) for mode in range(4)]

graph_rows = [(a, m) for a in archs for m in methods if os.path.exists(f"{d}/graph_{a}_{m}.json")]
if graph_rows:
    cell = lambda v, e: ("- (" + e + ")") if e and e.startswith("CUDA graphs need") else fmt(v, e)
    print(f"\nCUDA graph capture of the training step, {px} px, batch {batch}, images/s: eager against replayed "
          f"from one captured graph (bench/graph_bench.cpp), for the forward, loss and backward, and for those "
          f"with the LARS step (branching on the device: LarsOptions::host_norms(false)).\n")
    print("| backbone | method | fwd+bwd eager | fwd+bwd graphed | ratio | with LARS eager | with LARS graphed | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for arch, m in graph_rows:
        (ev, ee), (gv, ge), (sv, se), (tv, te) = graph(arch, m)
        print(f"| {arch_name[arch]} | {cpp_name[m]} | {cell(ev, ee)} | {cell(gv, ge)} | {ratio(gv, ev)} "
              f"| {cell(sv, se)} | {cell(tv, te)} | {ratio(tv, sv)} |")
PY
log "done in $(( $(date +%s) - t_start )) s"
# A TARGETS=all build that failed still measured; its exit status says what failed.
[ -z "$failed" ] || { echo "run.sh: failed: $failed" >&2; exit 1; }
