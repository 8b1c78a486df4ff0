#!/usr/bin/env bash
# valgrind memcheck over the C examples (issue 12): built against the
# shared library without sanitizers, run on the local cluster, which must be
# up (scripts/cluster.sh up; scripts/c-tests.sh starts it). Fails on any
# memory error and on definite leaks; "possibly lost" and "still reachable"
# blocks are the Rust runtime's threads and thread-locals, alive at exit by
# design, and are not counted. No suppression file is needed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=/dev/null
source target/cluster/env
out="$root/target/valgrind"
mkdir -p "$out"

for name in discovery producer consumer; do
    gcc -std=c11 -Wall -Wextra -Werror -g -O1 -Iinclude "examples-c/$name.c" \
        -Ltarget/release -lyelp_kafka -Wl,-rpath,"$root/target/release" -o "$out/$name"
done

memcheck() {
    printf '\n== valgrind %s\n' "$*"
    valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
        --show-leak-kinds=definite "$@"
}

memcheck "$out/discovery" >/dev/null
memcheck "$out/producer" "$YK_KAFKA1" mytopic >/dev/null
memcheck "$out/consumer" >/dev/null
echo "valgrind: no errors, no definite leaks"
