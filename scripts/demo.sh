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
echo "== examples-c/producer.c: Python yelp_kafka's producer, with its retry loop, keyed and asynchronous sends"
gcc "${cflags[@]}" examples-c/producer.c -o target/c/producer "${libs[@]}"
target/c/producer "$YK_KAFKA1" mytopic

echo
echo "== examples-c/consumer_group.c: two members of one group split a new 4-partition topic, the producer writes to it"
gcc "${cflags[@]}" examples-c/consumer_group.c -o target/c/consumer_group "${libs[@]}"
demo="group-demo-$$"
scripts/cluster.sh kafka 1 topic "$demo" 4 >/dev/null
logs=target/c/group-demo
rm -rf "$logs" && mkdir -p "$logs"
members=()
for name in a b; do
    YK_EXAMPLE_IDLE_EXIT=8 target/c/consumer_group "$YK_KAFKA1" "$YK_ZOOKEEPER" "$demo" "$demo" \
        partitioner_cooldown=1 auto_offset_reset=smallest >"$logs/member-$name.log" 2>&1 &
    members+=($!)
done
# The latest share of a member: the partitions of its last "acquired" line.
share() { grep '^acquired' "$logs/member-$1.log" | tail -n1 | cut -d' ' -f2- | tr ' ' '\n' | grep -v '^nothing$' || true; }
for _ in $(seq 300); do
    a="$(share a)" b="$(share b)"
    if [[ -n "$a" && -n "$b" ]] && (( $(printf '%s\n%s\n' "$a" "$b" | sort -u | wc -l) == 4 &&
        $(printf '%s\n%s\n' "$a" "$b" | wc -l) == 4 )); then
        break
    fi
    sleep 0.1
done
echo "member a holds: $(share a | tr '\n' ' ')"
echo "member b holds: $(share b | tr '\n' ' ')"
target/c/producer "$YK_KAFKA1" "$demo" >/dev/null
echo "producer wrote 1004 messages to $demo; the members stop after 8 s without messages"
wait "${members[@]}"
for name in a b; do
    echo "member $name consumed $(grep -c '^MSG' "$logs/member-$name.log") messages from: $(grep '^MSG' "$logs/member-$name.log" | cut -d' ' -f3 | sort -nu | tr '\n' ' ')"
done
total="$(cat "$logs"/member-*.log | grep -c '^MSG' || true)"
distinct="$(cat "$logs"/member-*.log | grep '^MSG' | sort -u | wc -l)"
echo "every message consumed once: $total deliveries, $distinct distinct (partition, offset) pairs, 1004 written"
if [[ "$total" != 1004 || "$distinct" != 1004 ]]; then
    echo "the group demo lost or repeated messages; logs in $logs" >&2
    exit 1
fi

echo
echo "== examples-c/callback_group.c and multiprocessing_group.c: Python yelp_kafka's callback and multiprocessing groups"
for name in callback_group multiprocessing_group multiprocessing_worker; do
    gcc "${cflags[@]}" "examples-c/$name.c" -o "target/c/$name" "${libs[@]}" -lpthread
done
run_id="$$-$(date +%s)"
target/c/callback_group "$YK_KAFKA1" "$YK_ZOOKEEPER" mytopic "callback-demo-$run_id" 5 | tail -n 3
target/c/multiprocessing_group "$PWD/target/c/multiprocessing_worker" "$YK_KAFKA1" "$YK_ZOOKEEPER" xmytopic \
    "multiprocessing-demo-$run_id" 3 | grep -v '^worker ' | tail -n 2

echo
echo "The local cluster is still running (scripts/cluster.sh status); stop it with: scripts/cluster.sh down"
