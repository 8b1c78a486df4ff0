#!/usr/bin/env bash
# flate2's gzip backends (zlib-rs, miniz_oxide, the system's libz) on
# Kafka-like batches of 64 KiB, 256 KiB and 1 MiB at the default level:
# builds bench/gzip-backends once per backend, runs the three builds in
# GZIP_ROUNDS (default 5) interleaved rounds of GZIP_BENCH_MS (default 1000)
# per measurement, and prints the median MB/s of each.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/bench/gzip-backends"
out="$root/target/gzip-backends"
rounds="${GZIP_ROUNDS:-5}"
backends=(zlib-rs miniz libz)

for backend in "${backends[@]}"; do
    cargo build --quiet --release --features "$backend" --target-dir "$out/$backend"
done
results="$out/results"
: >"$results"
for round in $(seq "$rounds"); do
    for backend in "${backends[@]}"; do
        "$out/$backend/release/gzip-backends" >>"$results"
    done
    echo "round $round of $rounds done" >&2
done

echo "load: $(uptime)"
echo "backend batch_bytes compress_MBps decompress_MBps compressed/raw (medians of $rounds rounds)"
sort -k1,1 -k2,2n "$results" | awk '
function median(list,   n, sorted, i, j, t) {
    n = split(list, sorted, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
        if (sorted[j] + 0 < sorted[i] + 0) { t = sorted[i]; sorted[i] = sorted[j]; sorted[j] = t }
    return n % 2 ? sorted[(n + 1) / 2] : (sorted[n / 2] + sorted[n / 2 + 1]) / 2
}
{ key = $1 " " $2; compress[key] = compress[key] " " $3; decompress[key] = decompress[key] " " $4; ratio[key] = $5
  if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
END { for (i = 1; i <= n; i++) printf "%s %.1f %.1f %s\n", order[i], median(compress[order[i]]), median(decompress[order[i]]), ratio[order[i]] }'
