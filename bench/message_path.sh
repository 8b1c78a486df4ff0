#!/usr/bin/env bash
# The consumer's per-message cost across the C boundary: the nine calls per
# message the bindings make today (accessors), one view per message (view),
# and batches of views (batch), reading the same data from one local mock
# cluster in alternating rounds (bench/message_path_bench.c). Prints the
# medians of CPU per message, for the whole process and for the calling
# thread alone. A report, never a gate: bash bench/message_path.sh [ROUNDS].
# Needs target/release/libyelp_kafka.a (cargo build --release) and the mock
# launcher (scripts/build-tools.sh).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/target/bench"
mkdir -p "$out"
rounds="${1:-5}"
gcc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude bench/message_path_bench.c target/release/libyelp_kafka.a \
    -lzstd -lpthread -ldl -lm -o "$out/message_path_bench"

# shellcheck source=bench/mock-cluster.sh
source bench/mock-cluster.sh
start_mock_cluster message-path --brokers 1 --topic "path:16"
count=200000
"$out/message_path_bench" fill "$bootstrap" path "$count" 100

field() { sed -n "s/.*[ ^]$1=\([0-9.]*\).*/\1/p" <<<" $2"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A cpu thread
for ((round = 1; round <= rounds; round++)); do
    for mode in accessors view batch; do
        line="$("$out/message_path_bench" "$mode" "$bootstrap" path "$count")"
        echo "round $round $mode: $line"
        cpu[$mode]+="$(field cpu_s "$line") "
        thread[$mode]+="$(field thread_cpu_s "$line") "
    done
done
printf '\n%-10s %22s %22s\n' "$count × 100 B" "process ns/message" "caller ns/message"
for mode in accessors view batch; do
    c="$(tr ' ' '\n' <<<"${cpu[$mode]}" | grep . | median)"
    t="$(tr ' ' '\n' <<<"${thread[$mode]}" | grep . | median)"
    awk -v m="$mode" -v c="$c" -v t="$t" -v n="$count" \
        'BEGIN { printf "%-10s %22.0f %22.0f\n", m, c * 1e9 / n, t * 1e9 / n }'
done
