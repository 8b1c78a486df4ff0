#!/usr/bin/env bash
# `make install PREFIX=... [DESTDIR=...]`: installs the release build of the
# library for C, C++ and cgo users:
#   PREFIX/lib/libyelp_kafka.so.X.Y.Z   (SONAME libyelp_kafka.so.X)
#   PREFIX/lib/libyelp_kafka.so.X, PREFIX/lib/libyelp_kafka.so   (symlinks)
#   PREFIX/lib/libyelp_kafka.a
#   PREFIX/include/yelp_kafka.h
#   PREFIX/lib/pkgconfig/yelp_kafka.pc
# The SONAME is set here, on the installed copy, with patchelf: a SONAME set
# at link time would make every in-tree program linked with -lyelp_kafka
# (examples, demo, bench) look for libyelp_kafka.so.X in target/release,
# where cargo writes only libyelp_kafka.so. DESTDIR (for packagers) is
# prepended to every path written, never to the paths inside yelp_kafka.pc.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

prefix="${1:?usage: install.sh PREFIX [DESTDIR]}"
destdir="${2:-}"
if [[ "$prefix" != /* ]]; then
    echo "install.sh: PREFIX must be an absolute path (yelp_kafka.pc records it): $prefix" >&2
    exit 2
fi
libdir="$prefix/lib"
includedir="$prefix/include"

version="$(cargo pkgid | sed 's/.*[#@]//')"
major="${version%%.*}"
description="$(sed -n 's/^description = "\(.*\)"$/\1/p' Cargo.toml)"

cargo build --release --quiet

echo "installing libyelp_kafka $version into $destdir$prefix"
install -d "$destdir$libdir/pkgconfig" "$destdir$includedir"
install -m 755 target/release/libyelp_kafka.so "$destdir$libdir/libyelp_kafka.so.$version"
patchelf --set-soname "libyelp_kafka.so.$major" "$destdir$libdir/libyelp_kafka.so.$version"
ln -sfn "libyelp_kafka.so.$version" "$destdir$libdir/libyelp_kafka.so.$major"
ln -sfn "libyelp_kafka.so.$major" "$destdir$libdir/libyelp_kafka.so"
install -m 644 target/release/libyelp_kafka.a "$destdir$libdir/libyelp_kafka.a"
install -m 644 include/yelp_kafka.h "$destdir$includedir/yelp_kafka.h"

# Libs.private and Requires.private: what the static library needs besides
# libc (pkg-config --static): libzstd is linked from the system, not bundled
# (docs/producer.md, Compression); the shared library records it itself.
cat >"$destdir$libdir/pkgconfig/yelp_kafka.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: yelp_kafka
Description: $description
Version: $version
Libs: -L\${libdir} -lyelp_kafka
Libs.private: -lpthread -ldl -lm
Requires.private: libzstd
Cflags: -I\${includedir}
PC
