#!/usr/bin/env bash
# Builds radiossl and runs every test on a later Debian than CI's 12, in a chroot made by debootstrap, with this
# checkout bind-mounted at /src. It runs the project's own commands there: tools/setup-debian.sh, then the README's
# test command. The suites it knows:
#   trixie (Debian 13, the default): LibTorch 2.6, g++ 14, CMake 3.31, oneDNN 3.7, CFITSIO 4.6, Boost 1.83, Catch2 3.7;
#   sid (unstable; on 2026-12-01): LibTorch 2.14, g++ 16, CMake 4.3, oneDNN 3.12, CFITSIO 4.7, Boost 1.92, Catch2 3.7.
# python3-torch and torchvision of the same suite serve the tests' cross-checks. CI builds with Debian 12's versions.
#
# With --cuda it also compiles the code that needs a CUDA LibTorch: the NCCL process group (tests/dist.cpp,
# tests/grid_dist.cpp) and CUDA graph capture (bench/graph_bench.cpp), against CUDA 12.4 (non-free nvidia-cuda-dev)
# and NCCL (contrib libnccl-dev), downloaded and unpacked, not installed. Then it checks the LibTorch symbols those
# objects need (tools/debian-cuda-check.sh says against what). No GPU is needed.
#
# Needs root, debootstrap (installed if missing) and access to a Debian mirror. ROOT is reused by later runs. On 2
# cores, trixie with --cuda took 11 min the first time and left 8.7 GB in ROOT; a rerun, with ccache warm, 5 min.
#   sudo tools/check-debian.sh [--suite trixie|sid] [--cuda] [ROOT]      ROOT defaults to /var/tmp/radiossl-SUITE
set -euo pipefail
suite=trixie cuda=0
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) suite=${2:?--suite needs trixie or sid}; shift 2 ;;
    --cuda) cuda=1; shift ;;
    -*) echo "usage: $0 [--suite trixie|sid] [--cuda] [ROOT]" >&2; exit 2 ;;
    *) break ;;
  esac
done
case "$suite" in trixie|sid) ;; *) echo "check-debian: unknown suite '$suite' (trixie or sid)" >&2; exit 2 ;; esac
root=$(realpath -m "${1:-/var/tmp/radiossl-$suite}")
src=$(cd "$(dirname "$0")/.." && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { echo "check-debian ($suite): $*"; }
[ "$(id -u)" -eq 0 ] || { echo "check-debian: run as root (debootstrap, chroot, mounts)" >&2; exit 2; }

if [ ! -x "$root/usr/bin/apt-get" ]; then
  command -v debootstrap > /dev/null || apt-get install -y -qq debootstrap
  log "debootstrap $suite into $root"
  debootstrap --variant=minbase --components=main,contrib,non-free "$suite" "$root" "$mirror"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
echo "deb $mirror $suite main contrib non-free" > "$root/etc/apt/sources.list"
# sid's Release file is valid for a week only, and a mirror may serve an older snapshot of it.
echo 'Acquire::Check-Valid-Until "false";' > "$root/etc/apt/apt.conf.d/99radiossl-no-valid-until"
mounted=()
cleanup() { for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[i]}" || true; done; }
trap cleanup EXIT
for d in proc sys dev dev/pts; do
  mountpoint -q "$root/$d" || { mount --bind "/$d" "$root/$d"; mounted+=("$root/$d"); }
done
mkdir -p "$root/src"
mountpoint -q "$root/src" || { mount --bind "$src" "$root/src"; mounted+=("$root/src"); }
in_root() { chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive bash -euo pipefail -c "$1"; }

log "installing packages"
in_root "bash /src/tools/setup-debian.sh test"
in_root "echo \"LibTorch \$(dpkg-query -W -f '\${Version}' libtorch-dev), \
Catch2 \$(dpkg-query -W -f '\${Version}' catch2), \$(g++ --version | head -1), \$(cmake --version | head -1)\""
log "building and testing in $root/tmp/radiossl-build"
status=0
in_root "bash /src/tools/run-tests.sh /tmp/radiossl-build" || status=1

if [ "$cuda" -eq 1 ]; then
  log "compiling the CUDA code"
  in_root "bash /src/tools/debian-cuda-check.sh" || status=1
fi
[ "$status" -eq 0 ] && log "all passed" || log "FAILED (see above)"
exit "$status"
