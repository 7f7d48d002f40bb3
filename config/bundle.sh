#!/bin/sh
# Makes cnimux, cnimux-ipam, the in-tree delegates (cnimux-macvlan, cnimux-ipvlan,
# cnimux-host-device, cnimux-sriov) and cnimuxctl runnable on any Linux host: copies each binary with every
# shared library it loads (the dynamic loader included) and relinks it with patchelf to load
# them from LIB_DIR, the path the bundle's lib/ will have on the host. libcurl is dlopen()ed
# by cnimux when it first talks to the API (plugin/curl_api.h), so it is bundled explicitly;
# dlopen searches the executable's DT_RPATH, so the bundled copy is the one found.
# Usage: config/bundle.sh BUILD_DIR OUT_DIR [LIB_DIR]   (needs ldd and patchelf)
set -eu

BUILD=$1
OUT=$2
LIB_DIR=${3:-/opt/cni/bin/cnimux.d/lib}

# Copies $1 and every library it loads into $OUT/lib.
copy_closure() {
  # ldd lines are "libx.so => /path (0x..)" or "/lib64/ld-linux-x86-64.so.2 (0x..)".
  ldd "$1" | awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }' |
    while read -r lib; do cp -L "$lib" "$OUT/lib/"; done
}

mkdir -p "$OUT/lib"
libcurl=$(ldconfig -p | awk '$1 == "libcurl.so.4" && /x86-64|aarch64|64bit/ { print $NF; exit }')
[ -n "$libcurl" ] || { echo "libcurl.so.4 not found (apt-get install libcurl4)" >&2; exit 1; }
cp -L "$libcurl" "$OUT/lib/libcurl.so.4"
copy_closure "$libcurl"
for bin in "$BUILD/plugin/cnimux" "$BUILD/ipam/cnimux-ipam" "$BUILD/cli/cnimuxctl" \
  "$BUILD/delegates/cnimux-macvlan" "$BUILD/delegates/cnimux-ipvlan" \
  "$BUILD/delegates/cnimux-host-device" "$BUILD/delegates/cnimux-sriov"; do
  copy_closure "$bin"
  interp=$(patchelf --print-interpreter "$bin")
  cp "$bin" "$OUT/"
  # DT_RPATH, unlike DT_RUNPATH, also applies to the libraries' own dependencies.
  patchelf --set-interpreter "$LIB_DIR/$(basename "$interp")" --set-rpath "$LIB_DIR" \
    --force-rpath "$OUT/$(basename "$bin")"
done
echo "bundled into $OUT: $(find "$OUT" -maxdepth 1 -type f | wc -l) binaries and $(find "$OUT/lib" -type f | wc -l) libraries"
