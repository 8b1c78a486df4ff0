#!/usr/bin/env bash
# The Go binding's CPU per message against the C API's, on one local mock
# cluster (issue #14's targets: producer <= 1.3x C, consumer <= 1.5x C):
# - producer: `producer_bench yk throughput` (bench/producer_bench.c)
#   against `bench producer` (bindings/go/internal/bench), GO_PRODUCER_COUNT
#   (default 1,000,000) messages of 100 B without key, linger 5 ms, every
#   delivery report counted by a callback;
# - consumer: `message_path_bench batch` (bench/message_path_bench.c:
#   yk_consumer_next_batch of 512 views, yk_task_done per message) against
#   `bench consumer`: NextBatch of 512 and TaskDone per message ("each"),
#   NextBatch and one TaskDoneBatch per batch ("batch"), NextBatchInto a
#   reused Batch and Batch.Done ("reuse"); GO_CONSUMER_COUNT (default
#   300,000) messages of 100 B from a topic of 16 partitions, a new group
#   each run. The mock keeps about 5 MB per partition, some 750,000 such
#   messages in all: the fill fails for more, where the readers would
#   wait forever for messages the mock dropped.
# The producer runs Produce per message ("each") and ProduceBatch of 1024
# ("batch").
# CPU is the whole process's (user + system: the library's threads and Go's
# runtime included) over the measured part. Each workload runs in
# BENCH_ROUNDS (default 5) interleaved rounds, C and Go taking turns;
# medians are compared. A report, never a gate.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
build_bench producer
gcc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude bench/message_path_bench.c target/release/libyelp_kafka.a \
    -lzstd -lpthread -ldl -lm -o "$out/message_path_bench"
(cd bindings/go && GOFLAGS=-mod=mod GOPROXY=off go build -o "$out/go_bench" ./internal/bench)

# shellcheck source=bench/mock-cluster.sh
source bench/mock-cluster.sh
start_mock_cluster go --brokers 3 --topic bench:6 --topic path:16

produced="${GO_PRODUCER_COUNT:-1000000}"
consumed="${GO_CONSUMER_COUNT:-300000}"
"$out/message_path_bench" fill "$bootstrap" path "$consumed" 100

# word NAME LINE: the value of NAME= in LINE (lib.sh's field would take
# thread_cpu_s for cpu_s).
word() { sed -n "s/.*[ ^]$1=\([0-9.]*\).*/\1/p" <<<" $2"; }
declare -A cpu=() thread=()
record() {
    cpu["$1"]+=" $(word cpu_s "$2")"
    thread["$1"]+=" $(word thread_cpu_s "$2")"
}
for round in $(seq "$rounds"); do
    record "producer C" "$("$out/producer_bench" yk throughput "$bootstrap" bench "$produced" 100 5 1000000)"
    record "producer Go (Produce)" "$("$out/go_bench" producer "$bootstrap" bench "$produced" 100 5 1000000 each)"
    record "producer Go (ProduceBatch)" "$("$out/go_bench" producer "$bootstrap" bench "$produced" 100 5 1000000 batch)"
    record "consumer C" "$("$out/message_path_bench" batch "$bootstrap" path "$consumed")"
    record "consumer Go (TaskDone each)" "$("$out/go_bench" consumer "$bootstrap" path "$consumed" each)"
    record "consumer Go (TaskDoneBatch)" "$("$out/go_bench" consumer "$bootstrap" path "$consumed" batch)"
    record "consumer Go (reused Batch)" "$("$out/go_bench" consumer "$bootstrap" path "$consumed" reuse)"
    echo "round $round done" >&2
done

ns_per_message() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.0f", s * 1e9 / n }'; }
echo "CPU per message, median of $rounds interleaved rounds (BENCH_ROUNDS); $produced produced, $consumed consumed, 100 B"
echo "(process: every thread; caller: the thread making the calls, where the binding's own work runs)"
printf '%-30s %18s %8s %18s %8s\n' "" "process ns / msg" "vs C" "caller ns / msg" "vs C"
for side in producer consumer; do
    count="$produced"
    [[ "$side" == consumer ]] && count="$consumed"
    # shellcheck disable=SC2086 # one word per run
    c_cpu="$(median ${cpu["$side C"]})"
    c_thread=""
    # shellcheck disable=SC2086 # one word per run
    [[ -n "${thread["$side C"]// /}" ]] && c_thread="$(median ${thread["$side C"]})"
    for name in "$side C" "$side Go (Produce)" "$side Go (ProduceBatch)" "$side Go (TaskDone each)" \
        "$side Go (TaskDoneBatch)" "$side Go (reused Batch)"; do
        [[ -n "${cpu[$name]:-}" ]] || continue
        # shellcheck disable=SC2086 # one word per run
        m="$(median ${cpu[$name]})"
        t_ns="-" t_ratio="-"
        if [[ -n "${thread[$name]// /}" ]]; then
            # shellcheck disable=SC2086 # one word per run
            t="$(median ${thread[$name]})"
            t_ns="$(ns_per_message "$t" "$count")"
            [[ -n "$c_thread" ]] && t_ratio="$(ratio "$t" "$c_thread")"
        fi
        printf '%-30s %18s %8s %18s %8s\n' "$name" "$(ns_per_message "$m" "$count")" "$(ratio "$m" "$c_cpu")" \
            "$t_ns" "$t_ratio"
    done
done
for name in "${!cpu[@]}"; do
    echo "    $name cpu_s:${cpu[$name]}; thread_cpu_s:${thread[$name]}"
done | sort
