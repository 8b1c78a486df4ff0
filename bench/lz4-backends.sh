#!/usr/bin/env bash
# LZ4 frame encoders (lz4_flex with its safe and its unchecked encoder,
# each as a frame encoder at its own and at librdkafka's settings and as a
# block encoder in a frame of our own; liblz4's frame API as librdkafka
# uses it) on Kafka-like batches of 64 KiB, 256 KiB and 1 MiB: builds
# bench/lz4-backends once per feature, runs the builds in LZ4_ROUNDS
# (default 5) interleaved rounds of LZ4_BENCH_MS (default 1000) per
# measurement, and prints the median MB per CPU second of each.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/bench/lz4-backends"
out="$root/target/lz4-backends"
rounds="${LZ4_ROUNDS:-5}"
builds=(flex-safe flex-unsafe liblz4)

for build in "${builds[@]}"; do
    cargo build --quiet --release --features "$build" --target-dir "$out/$build"
done
results="$out/results"
: >"$results"
for round in $(seq "$rounds"); do
    for build in "${builds[@]}"; do
        "$out/$build/release/lz4-backends" >>"$results"
    done
    echo "round $round of $rounds done" >&2
done

echo "load: $(uptime)"
echo "encoder batch_bytes compress_MB_per_cpu_s compressed/raw (medians of $rounds rounds)"
sort -k1,1 -k2,2n "$results" | awk '
function median(list,   n, sorted, i, j, t) {
    n = split(list, sorted, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
        if (sorted[j] + 0 < sorted[i] + 0) { t = sorted[i]; sorted[i] = sorted[j]; sorted[j] = t }
    return n % 2 ? sorted[(n + 1) / 2] : (sorted[n / 2] + sorted[n / 2 + 1]) / 2
}
{ key = $1 " " $2; compress[key] = compress[key] " " $3; ratio[key] = $4
  if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
END { for (i = 1; i <= n; i++) printf "%s %.1f %s\n", order[i], median(compress[order[i]]), ratio[order[i]] }'
