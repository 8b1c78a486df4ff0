#!/usr/bin/env bash
# The installed library and the Go, Ruby and C++ bindings, end to end
# against the local cluster (scripts/cluster.sh up; stopped at the end if
# this script started it):
#   1. make install PREFIX=target/bindings/prefix, its libraries stripped
#      with the shared one's debug info beside it; a C program built only
#      with `pkg-config --cflags --libs yelp_kafka` (examples-c/producer.c)
#      needs libyelp_kafka.so.<major> (the SONAME) and runs; the static
#      link line names libzstd (Requires.private);
#   2. Go (bindings/go): go vet, then go test -race on every package, each
#      test binary checked by bindings/go/static-exec.sh to link the static
#      library (it runs with no libyelp_kafka.so anywhere); a few tests
#      again with the build tag yelpkafka_system (pkg-config, shared); then
#      a module of its own in target/bindings/go-vendored that vendors the
#      package (`go mod vendor`) and builds and runs a small program both
#      ways: statically from the installed libyelp_kafka.a (CGO_LDFLAGS=-L),
#      and with yelpkafka_system against the installed shared library with
#      an rpath, run without LD_LIBRARY_PATH;
#   3. Ruby (bindings/ruby): the minitest suite, on the installed
#      libyelp_kafka.so.<major>; then the gem built and installed into
#      target/bindings/gem-home and a script run against it from outside
#      the repository with an empty environment, the library found through
#      the loader's cache as after an install to /usr/local;
#   4. C++ (bindings/cpp): the test, -std=c++17 -Wall -Wextra -Werror, with
#      AddressSanitizer and UBSan, built from the installed headers and
#      linked with the installed static library (it is also the worker
#      program of its process-worker test); then the example
#      bindings/cpp/event_loop.cpp built as the README's "Using from C++"
#      says, statically (with the sanitizers) and against the shared
#      library with an rpath, each run against cluster 1.
# Build outputs go to target/bindings/. Exits non-zero on the first failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/target/bindings"
prefix="$out/prefix"
mkdir -p "$out"

step() { printf '\n== %s (at %d:%02d)\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

step "make install PREFIX=$prefix"
rm -rf "$prefix"
make --no-print-directory install PREFIX="$prefix"
version="$(sed -n 's/^Version: //p' "$prefix/lib/pkgconfig/yelp_kafka.pc")"
major="${version%%.*}"

step "the installed libraries carry no debug info; the shared one's is in lib/.debug"
sections() { readelf -SW "$1" 2>/dev/null | grep -c -- "$2" || true; }
shared="$prefix/lib/libyelp_kafka.so.$version"
debug_info="$prefix/lib/.debug/libyelp_kafka.so.$version.debug"
if (($(sections "$shared" ' .debug_info') != 0)) || (($(sections "$shared" ' .gnu_debuglink') != 1)) ||
    (($(sections "$debug_info" ' .debug_info') != 1)) ||
    (($(sections "$prefix/lib/libyelp_kafka.a" ' .debug_info') != 0)); then
    echo "the installed libraries are not stripped, or the debug info is not beside them" >&2
    exit 1
fi
ls -l "$shared" "$debug_info" "$prefix/lib/libyelp_kafka.a" | awk '{print $5, $NF}'

# shellcheck source=scripts/cluster-for-this-run.sh
source "$root/scripts/cluster-for-this-run.sh"
cluster_up_for_this_run
# shellcheck source=/dev/null
source "$root/target/cluster/env"

step "a C program built with pkg-config --cflags --libs yelp_kafka"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046 # pkg-config prints one flag per word
gcc -std=c11 -Wall -Wextra -Werror examples-c/producer.c $(pkg-config --cflags --libs yelp_kafka) \
    -o "$out/producer-pkg-config"
needed="$(readelf -d "$out/producer-pkg-config" | sed -n 's/.*NEEDED.*\[\(libyelp_kafka[^]]*\)\]/\1/p')"
if [[ "$needed" != "libyelp_kafka.so.$major" ]]; then
    echo "the program needs '$needed', not the SONAME libyelp_kafka.so.$major" >&2
    exit 1
fi
echo "needs $needed"
LD_LIBRARY_PATH="$prefix/lib" "$out/producer-pkg-config" "$YK_KAFKA1" mytopic
static_libs="$(pkg-config --static --libs yelp_kafka)"
if [[ " $static_libs " != *" -lzstd "* ]]; then
    echo "pkg-config --static --libs yelp_kafka lacks the system libzstd: $static_libs" >&2
    exit 1
fi
echo "static link line: $static_libs"

step "Go (bindings/go): go vet, go test -race"
export GOPROXY=off
(cd bindings/go && go vet ./... && go test -race -count=1 -timeout 600s -exec "$root/bindings/go/static-exec.sh" ./...)
step "Go with the build tag yelpkafka_system: the installed shared library through pkg-config"
(cd bindings/go && LD_LIBRARY_PATH="$prefix/lib" \
    go test -tags yelpkafka_system -count=1 -run 'Sentinel|Discover|MetricsResponder' .)

step "Go: a module outside the checkout's package vendors it and builds both ways"
vendored="$out/go-vendored"
rm -rf "$vendored"
mkdir -p "$vendored"
cat >"$vendored/go.mod" <<GOMOD
module example.com/vendored

go 1.19

require github.com/Yelp/libyelp_kafka/bindings/go v0.0.0

replace github.com/Yelp/libyelp_kafka/bindings/go => $root/bindings/go
GOMOD
cat >"$vendored/main.go" <<'GO'
// A program of a module of its own that uses the vendored package.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	yelpkafka "github.com/Yelp/libyelp_kafka/bindings/go"
)

func main() {
	cluster, err := yelpkafka.NewClusterConfig("standard", "cluster1", strings.Split(os.Getenv("YK_KAFKA1"), ","), "")
	if err != nil {
		panic(err)
	}
	producer, err := yelpkafka.NewProducer(cluster, nil, nil)
	if err != nil {
		panic(err)
	}
	defer producer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offsets, err := producer.SendMessagesContext(ctx, "mytopic", []byte("from a vendored module"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("yelp_kafka %s, vendored: sent at offset %d\n", yelpkafka.Version(), offsets[0])
}
GO
(
    cd "$vendored"
    go mod vendor
    if [[ ! -f vendor/github.com/Yelp/libyelp_kafka/bindings/go/yelp_kafka.h ]]; then
        echo "go mod vendor did not copy the package's yelp_kafka.h" >&2
        exit 1
    fi
    # Static: the installed archive, found through CGO_LDFLAGS only.
    CGO_LDFLAGS="-L$prefix/lib" go build -mod=vendor -o static .
    if readelf -d static | grep -q 'NEEDED.*libyelp_kafka'; then
        echo "the static build needs a shared libyelp_kafka" >&2
        exit 1
    fi
    env -u LD_LIBRARY_PATH ./static
    # Shared: pkg-config and an rpath; run with no LD_LIBRARY_PATH.
    PKG_CONFIG_PATH="$prefix/lib/pkgconfig" CGO_LDFLAGS="-Wl,-rpath,$prefix/lib" \
        go build -mod=vendor -tags yelpkafka_system -o shared .
    if ! readelf -d shared | grep -q "NEEDED.*libyelp_kafka.so.$major"; then
        echo "the yelpkafka_system build does not need libyelp_kafka.so.$major" >&2
        exit 1
    fi
    env -u LD_LIBRARY_PATH ./shared
)

step "Ruby (bindings/ruby): minitest on the installed library"
(cd bindings/ruby && YELP_KAFKA_LIB="$prefix/lib/libyelp_kafka.so.$major" \
    ruby -w -Ilib -Itest -e 'Dir["test/test_*.rb"].sort.each { |f| require File.expand_path(f) }')

step "Ruby: a script against the installed gem, from outside the repository, with no environment variables"
# The library is found as after an install to /usr/local, whose ldconfig
# step puts it in the loader's cache (docs/installing.md): here ldconfig
# writes a private cache that also lists $prefix/lib, mounted over
# /etc/ld.so.cache in a private mount namespace, so no system file changes.
gem_home="$out/gem-home"
outside="$(mktemp -d)"
rm -rf "$gem_home"
(cd bindings/ruby && gem build --silent yelp_kafka.gemspec -o "$outside/yelp_kafka.gem")
# Offline: its one dependency, ffi, is the system's (Debian's ruby-ffi),
# which `gem install --install-dir` does not look at.
gem install --silent --local --no-document --ignore-dependencies --install-dir "$gem_home" "$outside/yelp_kafka.gem"
cp bindings/ruby/examples/installed_gem.rb "$outside/"
ldconfig -C "$outside/ld.so.cache" "$prefix/lib"
(cd "$outside" && unshare -m sh -c 'mount --bind "$1" /etc/ld.so.cache && shift && exec env -i PATH=/usr/bin:/bin "$@"' \
    sh "$outside/ld.so.cache" ruby -w installed_gem.rb "$gem_home" "$YK_KAFKA1" mytopic)
rm -rf "$outside"

step "C++ (bindings/cpp): -std=c++17 -Wall -Wextra -Werror, ASan + UBSan, installed headers and archive"
"${CXX:-g++}" -std=c++17 -Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=all \
    -fno-omit-frame-pointer -g -O1 -I"$prefix/include" bindings/cpp/yelp_kafka_test.cpp \
    "$prefix/lib/libyelp_kafka.a" -lzstd -lpthread -ldl -lm -o "$out/cpp_test"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$out/cpp_test"

step "C++ example bindings/cpp/event_loop.cpp: static (ASan + UBSan, unused sections dropped as the README links it), then shared through pkg-config"
libdir="$(pkg-config --variable=libdir yelp_kafka)"
# shellcheck disable=SC2046 # pkg-config prints one flag per word
"${CXX:-g++}" -std=c++17 -Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=all \
    -fno-omit-frame-pointer -g -O1 bindings/cpp/event_loop.cpp $(pkg-config --cflags yelp_kafka) \
    "$libdir/libyelp_kafka.a" -lzstd -lpthread -ldl -lm -Wl,--gc-sections -o "$out/cpp_event_loop"
if readelf -d "$out/cpp_event_loop" | grep -q 'NEEDED.*libyelp_kafka'; then
    echo "the static build of the C++ example needs the shared library" >&2
    exit 1
fi
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$out/cpp_event_loop" "$YK_KAFKA1" "$YK_ZOOKEEPER" other 100
# shellcheck disable=SC2046 # pkg-config prints one flag per word
"${CXX:-g++}" -std=c++17 -Wall -Wextra -Werror bindings/cpp/event_loop.cpp $(pkg-config --cflags --libs yelp_kafka) \
    -Wl,-rpath,"$libdir" -o "$out/cpp_event_loop_shared"
env -u LD_LIBRARY_PATH "$out/cpp_event_loop_shared" "$YK_KAFKA1" "$YK_ZOOKEEPER" other 100
