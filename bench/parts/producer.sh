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
    $(pkg-config --cflags --libs rdkafka) -lzstd -lpthread -ldl -lm -o "$out/producer_bench"

# One 3-broker mock cluster for the whole run.
# shellcheck source=bench/mock-cluster.sh
source bench/mock-cluster.sh
start_mock_cluster producer --brokers 3 --topic bench:6 --topic latency:1

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# The machine is shared: one run of a data set moves by ±20%. Each data set
# runs ROUNDS times, the libraries taking turns, and the medians are compared.
rounds="${BENCH_ROUNDS:-5}"
linger=5
batch=1000000
echo "async throughput, median of $rounds interleaved rounds (BENCH_ROUNDS)"
printf '%-34s %14s %10s %14s\n' "" "msgs/s" "cpu s" "cpu s / 1M msgs"
for shape in "1000000 100" "100000 10240"; do
    read -r count size <<<"$shape"
    declare -A rates=() cpus=()
    for _ in $(seq "$rounds"); do
        for lib in rdkafka yk; do
            line="$("$out/producer_bench" "$lib" throughput "$bootstrap" bench "$count" "$size" "$linger" "$batch")"
            rates[$lib]+=" $(field msgs_per_s "$line")"
            cpus[$lib]+=" $(field cpu_s "$line")"
        done
    done
    declare -A rate cpu
    for lib in rdkafka yk; do
        # shellcheck disable=SC2086 # word splitting of the collected figures is meant
        rate[$lib]="$(median ${rates[$lib]})"
        # shellcheck disable=SC2086
        cpu[$lib]="$(median ${cpus[$lib]})"
        per_million="$(awk -v c="${cpu[$lib]}" -v n="$count" 'BEGIN { printf "%.2f", c * 1e6 / n }')"
        printf '%-34s %14s %10s %14s\n' "$lib ${count} x ${size} B" "${rate[$lib]}" "${cpu[$lib]}" "$per_million"
        echo "    runs: msgs/s${rates[$lib]}; cpu s${cpus[$lib]}"
    done
    echo "  ratio yelp_kafka / librdkafka: msgs/s $(ratio "${rate[yk]}" "${rate[rdkafka]}"), cpu per msg $(ratio "${cpu[yk]}" "${cpu[rdkafka]}")"
done

echo
echo "sync send, one message, median of $rounds interleaved rounds of 2,000 sends"
printf '%-34s %10s %10s\n' "" "p50 us" "p99 us"
declare -A p50s=() p99s=() p50 p99
for _ in $(seq "$rounds"); do
    for lib in rdkafka yk; do
        line="$("$out/producer_bench" "$lib" latency "$bootstrap" latency 2000)"
        p50s[$lib]+=" $(field p50_us "$line")"
        p99s[$lib]+=" $(field p99_us "$line")"
    done
done
for lib in rdkafka yk; do
    # shellcheck disable=SC2086
    p50[$lib]="$(median ${p50s[$lib]})"
    # shellcheck disable=SC2086
    p99[$lib]="$(median ${p99s[$lib]})"
    printf '%-34s %10s %10s\n' "$lib" "${p50[$lib]}" "${p99[$lib]}"
done
echo "  ratio yelp_kafka / librdkafka: p50 $(ratio "${p50[yk]}" "${p50[rdkafka]}"), p99 $(ratio "${p99[yk]}" "${p99[rdkafka]}")"
