#!/usr/bin/env bash
# Producer benchmark: yelp_kafka's asynchronous producer against librdkafka's
# C producer, same local mock cluster, same messages, same linger and batch
# size; then the synchronous path (one message, acknowledged) against
# librdkafka's produce-then-flush. Prints each figure and the ratios.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="$root/target/bench"
mkdir -p "$out"
gcc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude bench/producer_bench.c target/release/libyelp_kafka.a \
    $(pkg-config --cflags --libs rdkafka) -lpthread -ldl -lm -o "$out/producer_bench"

# One 3-broker mock cluster for the whole run.
# shellcheck source=bench/mock-cluster.sh
source bench/mock-cluster.sh
start_mock_cluster producer --brokers 3 --topic bench:6 --topic latency:1

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

linger=5
batch=1000000
printf '%-34s %14s %10s %14s\n' "async throughput" "msgs/s" "cpu s" "cpu s / 1M msgs"
for shape in "1000000 100" "100000 10240"; do
    read -r count size <<<"$shape"
    declare -A rate cpu
    for lib in rdkafka yk; do
        line="$("$out/producer_bench" "$lib" throughput "$bootstrap" bench "$count" "$size" "$linger" "$batch")"
        rate[$lib]="$(field msgs_per_s "$line")"
        cpu[$lib]="$(field cpu_s "$line")"
        per_million="$(awk -v c="${cpu[$lib]}" -v n="$count" 'BEGIN { printf "%.2f", c * 1e6 / n }')"
        printf '%-34s %14s %10s %14s\n' "$lib ${count} x ${size} B" "${rate[$lib]}" "${cpu[$lib]}" "$per_million"
    done
    echo "  ratio yelp_kafka / librdkafka: msgs/s $(ratio "${rate[yk]}" "${rate[rdkafka]}"), cpu per msg $(ratio "${cpu[yk]}" "${cpu[rdkafka]}")"
done

echo
printf '%-34s %10s %10s\n' "sync send, one message" "p50 us" "p99 us"
declare -A p50 p99
for lib in rdkafka yk; do
    line="$("$out/producer_bench" "$lib" latency "$bootstrap" latency 2000)"
    p50[$lib]="$(field p50_us "$line")"
    p99[$lib]="$(field p99_us "$line")"
    printf '%-34s %10s %10s\n' "$lib" "${p50[$lib]}" "${p99[$lib]}"
done
echo "  ratio yelp_kafka / librdkafka: p50 $(ratio "${p50[yk]}" "${p50[rdkafka]}"), p99 $(ratio "${p99[yk]}" "${p99[rdkafka]}")"
