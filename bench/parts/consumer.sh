#!/usr/bin/env bash
# Consumer benchmark: yelp_kafka's consumer against librdkafka's C consumer
# (Debian's 2.0.2 and the wheel's 2.16), reading the same data from the same
# local mock cluster. Each data set is spread over enough partitions that
# the mock's retention of about 5 MB per partition keeps all of it. Each
# library reads each set as a new group, from the start, with its default
# auto-commit; yelp_kafka marks every message done (task_done). librdkafka
# runs twice: with its defaults (which stop fetching for a second each time
# 100000 messages wait in its queue) and "-tuned" with those limits lifted.
# Prints medians of interleaved rounds (BENCH_ROUNDS) of messages/s, CPU
# seconds, peak RSS and the ratios yelp_kafka / each librdkafka (rate:
# higher is better; CPU per message and RSS: lower is better). A report,
# never a gate. CONSUMER_SETS (topic names, e.g. "large") runs only those
# data sets.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
build_bench consumer
libraries=(rdkafka-2.0.2 rdkafka-2.0.2-tuned rdkafka-2.16 rdkafka-2.16-tuned yk)
anchors=(rdkafka-2.0.2 rdkafka-2.0.2-tuned rdkafka-2.16 rdkafka-2.16-tuned)

partitions=32
# One 3-broker mock cluster for the whole run.
# shellcheck source=bench/mock-cluster.sh
source bench/mock-cluster.sh
start_mock_cluster consumer --brokers 3 --topic "small:$partitions" --topic "large:$partitions" \
    --topic "small-lz4:$partitions" --topic "small-zstd:$partitions"

# topic count size codec
sets=("small 1000000 100 none" "large 10000 10240 none" "small-lz4 500000 100 lz4" "small-zstd 500000 100 zstd")
echo "consume from the start, median of $rounds interleaved rounds (BENCH_ROUNDS)"
print_throughput_header
for set in "${sets[@]}"; do
    read -r topic count size codec <<<"$set"
    [[ -z "${CONSUMER_SETS:-}" || " $CONSUMER_SETS " == *" $topic "* ]] || continue
    "$out/consumer_bench" fill "$bootstrap" "$topic" "$partitions" "$count" "$size" "$codec" >/dev/null
    run_rounds "$throughput_fields" "$out/consumer_bench" "$bootstrap" "$topic" "$count"
    print_throughput "$count x $size B $codec" "$count"
done
