#!/usr/bin/env bash
# go test -exec: runs a test binary after checking that it links
# libyelp_kafka statically (no libyelp_kafka.so among its NEEDED entries),
# so the tests prove a Go program runs without the shared library.
set -euo pipefail
binary="$1"
shift
if readelf -d "$binary" | grep -q 'NEEDED.*libyelp_kafka'; then
    echo "$binary needs a shared libyelp_kafka:" >&2
    readelf -d "$binary" | grep NEEDED >&2
    exit 1
fi
exec "$binary" "$@"
