#!/usr/bin/env bash
# Downloads (does not install) the Debian 12 .deb files that bench/gpu/run.sh unpacks on an offline
# CUDA machine through RADIOSSL_DEBS: the headers and libraries radiossl_bench needs besides LibTorch,
# and CFITSIO's runtime chain (libcurl-gnutls and what it loads), of which run.sh keeps only the
# libraries the machine lacks. About 22 MB. Run on a networked Debian 12 machine:
#   bash bench/gpu/fetch-debs.sh .debs     then, on the GPU machine:   RADIOSSL_DEBS=.debs bash bench/gpu/run.sh
set -euo pipefail
dir=${1:?usage: fetch-debs.sh DIR}
mkdir -p "$dir"
cd "$dir"
pkgs=(librange-v3-dev libboost1.74-dev nlohmann-json3-dev catch2 libbenchmark-dev libbenchmark1debian
      libcfitsio-dev libcfitsio10 wcslib-dev libwcs7 libpng-dev libpng16-16 zlib1g-dev zlib1g libbz2-1.0
      pkgconf pkgconf-bin libpkgconf3
      libcurl3-gnutls libbrotli1 libffi8 libgmp10 libgnutls30 libgssapi-krb5-2 libhogweed6 libidn2-0 libk5crypto3
      libkrb5-3 libkrb5support0 libldap-2.5-0 libnettle8 libnghttp2-14 libp11-kit0 libpsl5 librtmp1 libsasl2-2
      libssh2-1 libssl3 libtasn1-6 libunistring2 libzstd1 libcom-err2 libkeyutils1)
apt-get download "${pkgs[@]}"
echo "fetch-debs: $(ls ./*.deb | wc -l) .deb files, $(du -sh . | cut -f1) in $(pwd)"
