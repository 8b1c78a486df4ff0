#!/usr/bin/env bash
# Keyed mixed-size producer benchmark, every codec: yelp_kafka against
# librdkafka 2.0.2 and 2.16 on one 3-broker mock cluster, topic of 12
# partitions. MIXED_COUNT (default 50,000) messages per run, keys over
# 100,000 distinct keys, values 70% 100-300 B, 25% 1-4 KiB, 5% 16 KiB of
# log-like text (bench/producer_bench.c, mode mixed), linger 5 ms, acks 1;
# zstd once more idempotent (acks all). Each codec level is the codec's
# default in both libraries. Prints medians of interleaved rounds
# (BENCH_ROUNDS), peak RSS and the ratios against both anchors.
# MIXED_WORKLOADS picks workloads by name (default: all of them, in the
# order below). A name ending in -queue-N holds both libraries to N
# messages queued (none-queue-5000): its peak RSS compares the memory each
# keeps per message at the same queue limit, where under the default
# (100,000, never reached here) it follows how far each producing thread
# got ahead of the sender.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
build_bench producer

# shellcheck source=bench/mock-cluster.sh
source bench/mock-cluster.sh
start_mock_cluster producer-mixed --brokers 3 --topic mixed:12

count="${MIXED_COUNT:-50000}"
echo "keyed mixed sizes, $count messages, median of $rounds interleaved rounds (BENCH_ROUNDS, MIXED_COUNT)"
print_throughput_header
workloads="${MIXED_WORKLOADS:-none gzip snappy lz4 zstd zstd-idempotent none-queue-5000}"
for workload in $workloads; do
    queue_max=100000
    if [[ "$workload" == *-queue-* ]]; then
        queue_max="${workload##*-queue-}"
        workload="${workload%-queue-*}"
    fi
    codec="${workload%-idempotent}"
    idempotent="$([[ "$workload" == *-idempotent ]] && echo 1 || echo 0)"
    run_rounds "$throughput_fields queued_peak" "$out/producer_bench" mixed "$bootstrap" mixed "$count" "$codec" \
        "$idempotent" "$queue_max"
    label="$codec, $([[ $idempotent == 1 ]] && echo idempotent || echo "acks 1")"
    [[ "$queue_max" == 100000 ]] || label+=", $queue_max queued at most"
    print_throughput "$label" "$count"
    # How far the producing thread got ahead of the sender: the peak RSS follows it.
    print_runs queued_peak
done
