#!/usr/bin/env bash
# Consumer benchmark: yelp_kafka's consumer against librdkafka's C consumer,
# reading the same data from the same local mock cluster in one run. Each
# data set is spread over enough partitions that the mock's retention of
# about 5 MB per partition keeps all of it. Each library reads each set as a
# new group, from the start, with its default auto-commit; yelp_kafka marks
# every message done (task_done). librdkafka runs twice: with its defaults
# (which stop fetching for a second each time 100000 messages wait in its
# queue) and "tuned" with those limits lifted. Prints messages/s, CPU
# seconds and the ratios yelp_kafka / librdkafka (rate: higher is better;
# CPU per message: lower is better). A report, never a gate.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="$root/target/bench"
mkdir -p "$out"
gcc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude bench/consumer_bench.c target/release/libyelp_kafka.a \
    $(pkg-config --cflags --libs rdkafka) -lzstd -lpthread -ldl -lm -o "$out/consumer_bench"

partitions=32
# One 3-broker mock cluster for the whole run.
# shellcheck source=bench/mock-cluster.sh
source bench/mock-cluster.sh
start_mock_cluster consumer --brokers 3 --topic "small:$partitions" --topic "large:$partitions" \
    --topic "small-lz4:$partitions"

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# topic count size codec
sets=("small 1000000 100 none" "large 10000 10240 none" "small-lz4 500000 100 lz4")
printf '%-34s %14s %10s %16s\n' "consume from the start" "msgs/s" "cpu s" "cpu s / 1M msgs"
for set in "${sets[@]}"; do
    read -r topic count size codec <<<"$set"
    "$out/consumer_bench" fill "$bootstrap" "$topic" "$partitions" "$count" "$size" "$codec" >/dev/null
    declare -A rate cpu
    for lib in rdkafka rdkafka-tuned yk; do
        line="$("$out/consumer_bench" "$lib" "$bootstrap" "$topic" "$count")"
        rate[$lib]="$(field msgs_per_s "$line")"
        cpu[$lib]="$(field cpu_s "$line")"
        per_million="$(awk -v c="${cpu[$lib]}" -v n="$count" 'BEGIN { printf "%.2f", c * 1e6 / n }')"
        printf '%-34s %14s %10s %16s\n' "$lib $count x $size B $codec" "${rate[$lib]}" "${cpu[$lib]}" "$per_million"
    done
    for base in rdkafka rdkafka-tuned; do
        echo "  ratio yelp_kafka / $base: msgs/s $(ratio "${rate[yk]}" "${rate[$base]}"), cpu per msg $(ratio "${cpu[yk]}" "${cpu[$base]}")"
    done
done
