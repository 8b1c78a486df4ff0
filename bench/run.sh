#!/usr/bin/env bash
# `make bench`: runs every benchmark part in bench/parts/ (each compares
# yelp_kafka with librdkafka against the same local mock cluster, in one
# run, and prints its figures and ratios). Never a pass/fail gate on time.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh >/dev/null
scripts/build-tools.sh >/dev/null
cargo build --release --quiet
parts=(bench/parts/*.sh)
if [[ ! -e "${parts[0]}" ]]; then
    echo "no benchmark parts yet" >&2
    exit 1
fi
for part in "${parts[@]}"; do
    printf '\n==> %s\n' "$part"
    bash "$part"
done
