#!/usr/bin/env bash
# `make install PREFIX=... [DESTDIR=...]`: installs the release build of the
# library for C, C++ and cgo users:
#   PREFIX/lib/libyelp_kafka.so.X.Y.Z   (SONAME libyelp_kafka.so.X)
#   PREFIX/lib/libyelp_kafka.so.X, PREFIX/lib/libyelp_kafka.so   (symlinks)
#   PREFIX/lib/libyelp_kafka.a
#   PREFIX/lib/.debug/libyelp_kafka.so.X.Y.Z.debug   (its debug info)
#   PREFIX/include/yelp_kafka.h, PREFIX/include/yelp_kafka.hpp (C++)
#   PREFIX/lib/pkgconfig/yelp_kafka.pc
# The installed libraries carry no debug info (the release build's makes
# the .so 50 MB and the .a 140 MB): the .so's moves to lib/.debug/, where
# gdb finds it through the .so's debuglink; the .a is stripped of it (the
# unstripped archive stays in target/release/). When nothing is staged
# (no DESTDIR) and we are root, ldconfig runs so that programs and the Ruby
# gem find the library without LD_LIBRARY_PATH; a PREFIX outside the
# loader's paths is reported, with the two ways to make it found.
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
install -d "$destdir$libdir/pkgconfig" "$destdir$libdir/.debug" "$destdir$includedir"
shared="$destdir$libdir/libyelp_kafka.so.$version"
debug_info="$destdir$libdir/.debug/libyelp_kafka.so.$version.debug"
install -m 755 target/release/libyelp_kafka.so "$shared"
patchelf --set-soname "libyelp_kafka.so.$major" "$shared"
objcopy --only-keep-debug "$shared" "$debug_info"
chmod 644 "$debug_info"
objcopy --strip-debug --add-gnu-debuglink="$debug_info" "$shared"
ln -sfn "libyelp_kafka.so.$version" "$destdir$libdir/libyelp_kafka.so.$major"
ln -sfn "libyelp_kafka.so.$major" "$destdir$libdir/libyelp_kafka.so"
install -m 644 target/release/libyelp_kafka.a "$destdir$libdir/libyelp_kafka.a"
# The crates' objects in the archive carry LLVM bitcode for the link-time
# optimisation (docs/installing.md); a C link never reads it.
strip --strip-debug --remove-section=.llvmbc --remove-section=.llvmcmd "$destdir$libdir/libyelp_kafka.a"
install -m 644 include/yelp_kafka.h "$destdir$includedir/yelp_kafka.h"
install -m 644 bindings/cpp/yelp_kafka.hpp "$destdir$includedir/yelp_kafka.hpp"

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

if [[ -z "$destdir" && "$(id -u)" == 0 ]]; then
    ldconfig
fi
if ! ldconfig -p 2>/dev/null | grep -q "libyelp_kafka.so.$major .*=> $libdir/"; then
    cat <<HINT
note: the loader does not search $libdir. Programs linked against the
shared library find it when linked with -Wl,-rpath,$libdir, or after
$libdir is added to /etc/ld.so.conf.d/ and ldconfig runs (docs/installing.md).
HINT
fi
