#!/usr/bin/env bash
# Consumer group benchmark: yelp_kafka's `yk_consumer_group` (ZooKeeper
# balancing, the default; and `yk-kafka`, Kafka's group protocol) against
# librdkafka's subscribing consumer (`rd_kafka_subscribe`; Debian's 2.0.2
# and the wheel's 2.16, each with its defaults and "-tuned" with its
# pre-fetch limits lifted, as in bench/parts/consumer.sh), each the only
# member of a new group reading a pre-filled topic of 64 partitions from
# the earliest offset on one 3-broker mock cluster. GROUP_COUNT (default
# 1,000,000) messages of 100 B. The rate counts from the first message
# received to the last (joining and the first assignment are left out);
# CPU is the process's over that span. A ZooKeeper for the yelp_kafka
# group runs from target/bench/zookeeper on GROUP_ZOOKEEPER_PORT (default
# 2189) for the part. Prints medians of interleaved rounds (BENCH_ROUNDS),
# peak RSS and the ratios against every anchor. A report, never a gate.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
build_bench consumer
libraries=(rdkafka-2.0.2 rdkafka-2.0.2-tuned rdkafka-2.16 rdkafka-2.16-tuned yk yk-kafka)
anchors=(rdkafka-2.0.2 rdkafka-2.0.2-tuned rdkafka-2.16 rdkafka-2.16-tuned)
subjects=(yk yk-kafka)

partitions=64
count="${GROUP_COUNT:-1000000}"
size=100

# shellcheck source=bench/mock-cluster.sh
source bench/mock-cluster.sh
start_mock_cluster consumer-group --brokers 3 --topic "group:$partitions"

zookeeper_dir="$out/zookeeper"
zookeeper_port="${GROUP_ZOOKEEPER_PORT:-2189}"
stop_services() {
    scripts/zookeeper.sh stop "$zookeeper_dir" >/dev/null || true
    stop_mock_cluster
}
trap stop_services EXIT
# A new ZooKeeper each time: no group of an earlier run is left in it.
rm -rf "$zookeeper_dir/data"
scripts/zookeeper.sh start "$zookeeper_dir" "$zookeeper_port" >/dev/null

"$out/consumer_bench" fill "$bootstrap" group "$partitions" "$count" "$size" none >/dev/null
echo "consumer group, $partitions partitions, from the first message, median of $rounds interleaved rounds" \
    "(BENCH_ROUNDS, GROUP_COUNT)"
print_throughput_header
run_rounds "$throughput_fields cpu_total_s join_s" "$out/consumer_bench" group "$bootstrap" \
    "127.0.0.1:$zookeeper_port" group "$count"
print_throughput "group, $count x $size B" "$count"
for library in "${libraries[@]}"; do
    echo "  $library: join (start to first message) $(median_of "$library" join_s) s," \
        "CPU from the start $(median_of "$library" cpu_total_s) s"
done
