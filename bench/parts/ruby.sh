#!/usr/bin/env bash
# The Ruby binding's CPU per message against the C API's, same local mock
# cluster, same work, interleaved rounds (BENCH_ROUNDS), medians:
# - producer: bindings/ruby/bench/bench.rb producer (#produce per message,
#   #on_delivery per report) and producer-batch (#produce_batch of 1,024,
#   #on_delivery_batch) against bench/producer_bench.c's yelp_kafka
#   throughput run (no key, linger 5 ms, delivery reports counted in a
#   callback);
# - consumer: bench.rb consumer (KafkaSimpleConsumer#each, each field read,
#   #task_done), consumer-batch (#each_batch(task_done: true)) and
#   consumer-columns (#each_columns(task_done: true), every column read)
#   against bench/message_path_bench.c batch (the same through
#   yk_consumer_next_batch and yk_task_done).
# Every Ruby run goes twice: on the default interpreter and with --yjit
# (when this Ruby has YJIT). Issue #14 asks for at most 3x for both, on
# the default interpreter. A report, never a gate.
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
# ruby_bench [--yjit] MODE ARGS...
ruby_bench() {
    local flags=()
    [[ "$1" == --yjit ]] && flags=("$1") && shift
    YELP_KAFKA_LIB="$root/target/release/libyelp_kafka.so" ruby -w "${flags[@]}" -Ibindings/ruby/lib \
        bindings/ruby/bench/bench.rb "$@"
}
# lib.sh's field would read cpu_s out of thread_cpu_s: match whole names.
exact_field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<" $2"; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

workloads=(c-producer ruby-producer ruby-producer-batch c-consumer ruby-consumer ruby-consumer-batch
    ruby-consumer-columns)
yjit=()
if ruby --yjit -e 'exit RubyVM::YJIT.enabled?' 2>/dev/null; then
    yjit=(ruby-producer-yjit ruby-producer-batch-yjit ruby-consumer-yjit ruby-consumer-batch-yjit
        ruby-consumer-columns-yjit)
fi

declare -A cpu thread gc
for ((round = 1; round <= rounds; round++)); do
    for run in "${workloads[@]}" "${yjit[@]}"; do
        flags=()
        mode="${run#ruby-}"
        if [[ "$mode" == *-yjit ]]; then
            flags=(--yjit)
            mode="${mode%-yjit}"
        fi
        case "$run" in
        c-producer) line="$("$out/producer_bench" yk throughput "$bootstrap" produce "$count" 100 5 1000000)" ;;
        c-consumer) line="$("$out/message_path_bench" batch "$bootstrap" consume "$count")" ;;
        ruby-producer*) line="$(ruby_bench "${flags[@]}" "$mode" "$bootstrap" produce "$count" 100)" ;;
        ruby-consumer*) line="$(ruby_bench "${flags[@]}" "$mode" "$bootstrap" consume "$count")" ;;
        esac
        echo "round $round $run: $line"
        cpu[$run]+="$(exact_field cpu_s "$line") "
        thread[$run]+="$(exact_field thread_cpu_s "$line") "
        gc[$run]+="$(exact_field gc_s "$line") "
    done
done

printf '\n%s messages of 100 B, median of %s interleaved rounds (BENCH_ROUNDS); load average %s\n' \
    "$count" "$rounds" "$(cut -d' ' -f1-3 /proc/loadavg)"
# Where Ruby's time goes: its calling thread (Ruby and the C calls it
# makes), the garbage collector's share of that, and the library's threads
# (the rest of the process).
printf '%-26s %9s %12s %7s %12s %9s %14s\n' "" "C ns/msg" "Ruby ns/msg" "Ruby/C" "Ruby thread" "of it GC" "other threads"
for run in "${workloads[@]}" "${yjit[@]}"; do
    [[ "$run" == ruby-* ]] || continue
    side=producer
    [[ "$run" == ruby-consumer* ]] && side=consumer
    c="$(median <<<"${cpu[c-$side]}")"
    r="$(median <<<"${cpu[$run]}")"
    t="$(median <<<"${thread[$run]}")"
    g="$(median <<<"${gc[$run]}")"
    awk -v s="${run#ruby-}" -v c="$c" -v r="$r" -v t="$t" -v g="$g" -v n="$count" \
        'BEGIN { printf "%-26s %9.0f %12.0f %7.2f %12.0f %9.0f %14.0f\n", s, c * 1e9 / n, r * 1e9 / n, r / c,
                 t * 1e9 / n, g * 1e9 / n, (r - t) * 1e9 / n }'
done
