#!/usr/bin/env bash
# Installs radiossl's build and test dependencies from Debian 12 packages.
# Idempotent: packages already installed are skipped, and apt is not touched when nothing is missing.
# Usage: tools/setup-debian.sh [build|test|bench|all]   (default: test)
set -euo pipefail
what=${1:-test}

build_pkgs=(g++ cmake ninja-build lld ccache pkg-config
            libtorch-dev libopenblas0-pthread
            libcfitsio-dev libcfitsio-bin fitsverify wcslib-dev
            librange-v3-dev libboost-dev libpng-dev nlohmann-json3-dev libgloo-dev libdnnl-dev
            libbenchmark-dev)
# The tests (Catch2: 2.x on Debian 12, 3.x works too), and their cross-checks against other tools: files
# written by astropy, torchvision weights and features.
test_pkgs=(catch2 python3-astropy python3-numpy python3-torch python3-torchvision)
bench_pkgs=(python3-torch python3-torchvision python3-astropy)

case "$what" in
  build) want=("${build_pkgs[@]}") ;;
  test)  want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  bench|all) want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|bench|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-debian: all ${#want[@]} packages present"
  exit 0
fi
echo "setup-debian: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
