#!/usr/bin/env bash
# The Ruby binding's CPU per message against the C API's, same local mock
# cluster, same work, interleaved rounds (BENCH_ROUNDS), medians:
# - producer: bindings/ruby/bench/bench.rb producer against
#   bench/producer_bench.c's yelp_kafka throughput run (no key, linger 5 ms,
#   delivery reports counted in a callback);
# - consumer: bench.rb consumer (KafkaSimpleConsumer, each field read,
#   task_done) against bench/message_path_bench.c batch (the same through
#   yk_consumer_next_batch and yk_task_done).
# Issue #14 asks for at most 3x for both. A report, never a gate.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
build_bench producer
gcc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude bench/message_path_bench.c target/release/libyelp_kafka.a \
    -lzstd -lpthread -ldl -lm -o "$out/message_path_bench"

# shellcheck source=bench/mock-cluster.sh
source bench/mock-cluster.sh
start_mock_cluster ruby --brokers 1 --topic produce:6 --topic consume:16

count=200000
"$out/message_path_bench" fill "$bootstrap" consume "$count" 100
ruby_bench() { YELP_KAFKA_LIB="$root/target/release/libyelp_kafka.so" ruby -w -Ibindings/ruby/lib bindings/ruby/bench/bench.rb "$@"; }
# lib.sh's field would read cpu_s out of thread_cpu_s: match whole names.
exact_field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<" $2"; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A cpu thread gc
for ((round = 1; round <= rounds; round++)); do
    for run in c-producer ruby-producer c-consumer ruby-consumer; do
        case "$run" in
        c-producer) line="$("$out/producer_bench" yk throughput "$bootstrap" produce "$count" 100 5 1000000)" ;;
        ruby-producer) line="$(ruby_bench producer "$bootstrap" produce "$count" 100)" ;;
        c-consumer) line="$("$out/message_path_bench" batch "$bootstrap" consume "$count")" ;;
        ruby-consumer) line="$(ruby_bench consumer "$bootstrap" consume "$count")" ;;
        esac
        echo "round $round $run: $line"
        cpu[$run]+="$(exact_field cpu_s "$line") "
        thread[$run]+="$(exact_field thread_cpu_s "$line") "
        gc[$run]+="$(exact_field gc_s "$line") "
    done
done

printf '\n%s messages of 100 B, median of %s interleaved rounds (BENCH_ROUNDS)\n' "$count" "$rounds"
# Where Ruby's time goes: its calling thread (Ruby and the C calls it
# makes), the garbage collector's share of that, and the library's threads
# (the rest of the process).
printf '%-10s %14s %14s %8s %14s %12s %14s\n' "" "C ns/msg" "Ruby ns/msg" "Ruby/C" "Ruby thread" "of it GC" "other threads"
for side in producer consumer; do
    c="$(median <<<"${cpu[c-$side]}")"
    r="$(median <<<"${cpu[ruby-$side]}")"
    t="$(median <<<"${thread[ruby-$side]}")"
    g="$(median <<<"${gc[ruby-$side]}")"
    awk -v s="$side" -v c="$c" -v r="$r" -v t="$t" -v g="$g" -v n="$count" \
        'BEGIN { printf "%-10s %14.0f %14.0f %8.2f %14.0f %12.0f %14.0f\n", s, c * 1e9 / n, r * 1e9 / n, r / c,
                 t * 1e9 / n, g * 1e9 / n, (r - t) * 1e9 / n }'
done
