#!/usr/bin/env bash
# `make demo`: install what is missing, build the library, start the local
# cluster (ZooKeeper and two mock Kafka clusters) and run the C examples
# against it. The cluster keeps running afterwards; `scripts/cluster.sh down`
# stops it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/setup.sh
cargo build --release --quiet
scripts/cluster.sh up
# shellcheck source=/dev/null
source target/cluster/env

mkdir -p target/c
cflags=(-std=c11 -Wall -Wextra -Werror -O2 -Iinclude)
libs=(-Ltarget/release -lyelp_kafka -Wl,-rpath,"$root/target/release")

echo
echo "== examples-c/discovery.c: every topic ending in 'mytopic', on two clusters"
gcc "${cflags[@]}" examples-c/discovery.c -o target/c/discovery "${libs[@]}"
target/c/discovery "$YK_KAFKA1" "$YK_KAFKA2"

echo
echo "== examples-c/producer.c: the seed's producer, with its retry loop, keyed and asynchronous sends"
gcc "${cflags[@]}" examples-c/producer.c -o target/c/producer "${libs[@]}"
target/c/producer "$YK_KAFKA1" mytopic

echo
echo "The local cluster is still running (scripts/cluster.sh status); stop it with: scripts/cluster.sh down"
