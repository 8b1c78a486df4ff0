#!/usr/bin/env bash
# The backends of one codec on Kafka-like batches of 64 KiB, 256 KiB and
# 1 MiB (bench/codec_batches.rs): `bench/codec-backends.sh gzip` times
# flate2's gzip backends (zlib-rs with its CPU feature detection, as the
# library builds it, and without; miniz_oxide; the system's libz) at the
# default level, in MB/s of wall time, compressing and decompressing;
# `bench/codec-backends.sh lz4` times the LZ4 frame encoders (lz4_flex
# with its safe and its unchecked encoder, liblz4's frame API as librdkafka
# uses it) in MB per second of CPU time; `bench/codec-backends.sh zstd`
# times Debian's libzstd (as the library links it) against the libzstd
# source zstd-sys carries (1.5.7, the one librdkafka 2.16's wheel bundles)
# at level 3, in MB per second of CPU time. Builds bench/<codec>-backends once
# per backend feature, runs the builds in CODEC_ROUNDS (default 5)
# interleaved rounds of CODEC_BENCH_MS (default 1000) per measurement, and
# prints the median of every figure.
set -euo pipefail

codec="${1:-}"
case "$codec" in
    gzip) builds=(zlib-rs-detect zlib-rs miniz libz)
          columns="backend batch_bytes compress_MBps decompress_MBps compressed/raw" ;;
    lz4) builds=(flex-safe flex-unsafe liblz4)
         columns="encoder batch_bytes compress_MB_per_cpu_s compressed/raw" ;;
    zstd) builds=(system bundled)
          columns="libzstd batch_bytes compress_MB_per_cpu_s decompress_MB_per_cpu_s compressed/raw" ;;
    *) echo "usage: $0 gzip|lz4|zstd" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/bench/$codec-backends"
out="$root/target/$codec-backends"
rounds="${CODEC_ROUNDS:-5}"

for build in "${builds[@]}"; do
    cargo build --quiet --release --features "$build" --target-dir "$out/$build"
done
results="$out/results"
: >"$results"
for round in $(seq "$rounds"); do
    for build in "${builds[@]}"; do
        CODEC_BENCH_MS="${CODEC_BENCH_MS:-1000}" "$out/$build/release/$codec-backends" >>"$results"
    done
    echo "round $round of $rounds done" >&2
done

echo "load: $(uptime)"
echo "$columns (medians of $rounds rounds)"
# Columns 3 to the one before last are figures (medians taken); the last is
# the compression ratio, the same in every round.
sort -k1,1 -k2,2n "$results" | awk '
function median(list,   n, sorted, i, j, t) {
    n = split(list, sorted, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
        if (sorted[j] + 0 < sorted[i] + 0) { t = sorted[i]; sorted[i] = sorted[j]; sorted[j] = t }
    return n % 2 ? sorted[(n + 1) / 2] : (sorted[n / 2] + sorted[n / 2 + 1]) / 2
}
{ key = $1 " " $2
  for (c = 3; c < NF; c++) figures[key, c] = figures[key, c] " " $c
  ratio[key] = $NF; width[key] = NF
  if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
END { for (i = 1; i <= n; i++) {
        line = order[i]
        for (c = 3; c < width[order[i]]; c++) line = line sprintf(" %.1f", median(figures[order[i], c]))
        print line " " ratio[order[i]] } }'
