#!/usr/bin/env bash
# Producer benchmark: yelp_kafka's asynchronous producer against librdkafka's
# C producer (Debian's 2.0.2 and the wheel's 2.16), same local mock cluster,
# same messages, same linger and batch size; then the synchronous path (one
# message, acknowledged) against librdkafka's produce-then-flush. Prints
# each figure, peak RSS, and the ratios against both anchors.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
build_bench producer

# One 3-broker mock cluster for the whole run.
# shellcheck source=bench/mock-cluster.sh
source bench/mock-cluster.sh
start_mock_cluster producer --brokers 3 --topic bench:6 --topic latency:1

# The machine is shared: one run of a data set moves by ±20%. Each data set
# runs ROUNDS times, the libraries taking turns, and the medians are compared.
linger=5
batch=1000000
echo "async throughput, median of $rounds interleaved rounds (BENCH_ROUNDS)"
print_throughput_header
# The last shape holds both libraries to 10,000 messages queued: its peak
# RSS compares the memory each keeps per message at the same queue limit,
# where under the default limit (100,000, never reached here) it follows
# how far each producing thread got ahead of the sender.
for shape in "1000000 100 100000" "100000 10240 100000" "100000 10240 10000"; do
    read -r count size queue_max <<<"$shape"
    run_rounds "$throughput_fields queued_peak" "$out/producer_bench" throughput "$bootstrap" bench "$count" "$size" \
        "$linger" "$batch" "$queue_max"
    label="${count} x ${size} B"
    [[ "$queue_max" == 100000 ]] || label+=", queue $queue_max"
    print_throughput "$label" "$count"
    # How far the producing thread got ahead of the sender: the peak RSS follows it.
    print_runs queued_peak
done

echo
echo "sync send, one message, median of $rounds interleaved rounds of 2,000 sends"
printf '%-34s %10s %10s %12s\n' "" "p50 us" "p99 us" "peak RSS MiB"
run_rounds "p50_us p99_us rss_kb" "$out/producer_bench" latency "$bootstrap" latency 2000
for library in "${libraries[@]}"; do
    printf '%-34s %10s %10s %12s\n' "$library" "$(median_of "$library" p50_us)" "$(median_of "$library" p99_us)" \
        "$(mib "$(median_of "$library" rss_kb)")"
done
print_runs p50_us p99_us rss_kb
print_ratios p50_us p99_us rss_kb
