#!/usr/bin/env bash
# Builds the test-cluster tools: tools/mock_cluster.c -> target/tools/mock_cluster
# (the mock Kafka launcher, see docs/test-cluster.md). Rebuilds only when the
# source or this script is newer than the binary. Prints the binary's path.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/tools/mock_cluster.c"
out_dir="${CARGO_TARGET_DIR:-$root/target}/tools"
out="$out_dir/mock_cluster"

if [[ ! -x "$out" || "$src" -nt "$out" || "${BASH_SOURCE[0]}" -nt "$out" ]]; then
    mkdir -p "$out_dir"
    # Build to a temporary name and rename, so a concurrent caller never runs
    # a half-written binary.
    tmp="$(mktemp "$out_dir/.mock_cluster.XXXXXX")"
    trap 'rm -f "$tmp"' EXIT
    # shellcheck disable=SC2046 # pkg-config output is meant to be split
    gcc -Wall -Wextra -Werror -O2 "$src" -o "$tmp" $(pkg-config --cflags --libs rdkafka)
    mv -f "$tmp" "$out"
    trap - EXIT
    echo "built $out" >&2
fi
echo "$out"
