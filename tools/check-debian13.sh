#!/usr/bin/env bash
# Builds radiossl and runs every test on Debian 13: LibTorch 2.6, g++ 14, CMake 3.31, oneDNN 3.7, CFITSIO 4.6,
# Boost 1.83, and python3-torch 2.6 with torchvision 0.21 for the tests' cross-checks. It works in a Debian 13
# chroot made by debootstrap, with this checkout bind-mounted at /src. The tests build there with Debian 13's
# Catch2 3.7 (tests/support/catch.hpp); CI builds them with Debian 12's 2.13.
#
# With --cuda it also compiles the code that needs a CUDA LibTorch: the NCCL process group (tests/dist.cpp,
# tests/grid_dist.cpp) and CUDA graph capture (bench/graph_bench.cpp). These are compiled against Debian 13's
# CUDA LibTorch 2.6 headers (contrib libtorch-cuda-dev), CUDA 12.4 (non-free nvidia-cuda-dev) and NCCL 2.22
# (contrib libnccl-dev), which are downloaded and unpacked, not installed. It then checks that libtorch-cuda-2.6's
# libraries export every LibTorch symbol these objects need. No GPU is needed.
#
# Needs root, debootstrap (installed if missing) and access to deb.debian.org. ROOT is reused by later runs. With
# --cuda on 2 cores, a first run took 11 min and left 8.7 GB in ROOT; a rerun, with ccache warm, took 5 min.
#   sudo tools/check-debian13.sh [--cuda] [ROOT]        ROOT defaults to /var/tmp/radiossl-debian13
set -euo pipefail
cuda=0
if [ "${1:-}" = "--cuda" ]; then cuda=1; shift; fi
root=$(realpath -m "${1:-/var/tmp/radiossl-debian13}")
src=$(cd "$(dirname "$0")/.." && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { echo "check-debian13: $*"; }
[ "$(id -u)" -eq 0 ] || { echo "check-debian13: run as root (debootstrap, chroot, mounts)" >&2; exit 2; }

if [ ! -x "$root/usr/bin/apt-get" ]; then
  command -v debootstrap > /dev/null || apt-get install -y -qq debootstrap
  log "debootstrap trixie into $root"
  debootstrap --variant=minbase --components=main,contrib,non-free trixie "$root" "$mirror"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
echo "deb $mirror trixie main contrib non-free" > "$root/etc/apt/sources.list"
mounted=()
cleanup() { for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[i]}" || true; done; }
trap cleanup EXIT
for d in proc sys dev dev/pts; do
  mountpoint -q "$root/$d" || { mount --bind "/$d" "$root/$d"; mounted+=("$root/$d"); }
done
mkdir -p "$root/src"
mountpoint -q "$root/src" || { mount --bind "$src" "$root/src"; mounted+=("$root/src"); }
in_root() { chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive bash -euo pipefail -c "$1"; }

# The project's own commands: its packages (tools/setup-debian.sh), then the README's test command.
log "installing packages"
in_root "bash /src/tools/setup-debian.sh test"
in_root "echo \"LibTorch \$(dpkg-query -W -f '\${Version}' libtorch-dev), \
Catch2 \$(dpkg-query -W -f '\${Version}' catch2), \$(g++ --version | head -1), \$(cmake --version | head -1)\""
log "building and testing in $root/tmp/radiossl-build"
status=0
in_root "bash /src/tools/run-tests.sh /tmp/radiossl-build" || status=1

if [ "$cuda" -eq 1 ]; then
  log "compiling the CUDA code against Debian 13's CUDA LibTorch"
  in_root "bash /src/tools/debian13-cuda-check.sh" || status=1
fi
[ "$status" -eq 0 ] && log "all passed" || log "FAILED (see above)"
exit "$status"
