#!/usr/bin/env bash
# Everything `make test` runs, in order: setup, lint, the header check, the
# Rust unit and integration tests against Debian's librdkafka 2.0.2 mock
# beside the integration tests against the modern 2.16 mock from the
# confluent-kafka wheel (scripts/rust-tests.sh), then the C API tests and
# examples on both mocks, then the Go, Ruby and C++ bindings. One shared
# ZooKeeper serves every test process (each test takes its own chroot); it
# is stopped on exit, also on failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Each step says when it starts, counted from the start of the run, so a
# run's log shows where its time goes (CI has a budget).
step() { printf '\n==> %s (at %d:%02d)\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

step "setup"
scripts/setup.sh

step "format and lint"
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings

step "build and header check"
cargo build --release --quiet
if ! git diff --exit-code --stat -- include/yelp_kafka.h; then
    echo "include/yelp_kafka.h differs from a fresh cbindgen run: commit the regenerated header" >&2
    exit 1
fi

zk_dir="$root/target/test-zk"
zk_port=2191
# The C and binding tests need the local cluster (scripts/cluster.sh up,
# below); a cluster this run started is stopped at the end, one that a
# person had running is left alone.
# shellcheck source=scripts/cluster-for-this-run.sh
source "$root/scripts/cluster-for-this-run.sh"
cluster_was_running=false
if cluster_running; then
    cluster_was_running=true
fi
cleanup() {
    scripts/zookeeper.sh stop "$zk_dir" "$zk_port" >/dev/null 2>&1 || true
    "$cluster_was_running" || scripts/cluster.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT
step "ZooKeeper for the tests on 127.0.0.1:$zk_port"
scripts/zookeeper.sh start "$zk_dir" "$zk_port"
export YK_TEST_ZOOKEEPER="127.0.0.1:$zk_port"

step "Rust tests on the 2.0.2 and 2.16 mocks, side by side"
scripts/rust-tests.sh

# One local cluster serves the C and binding suites (each would otherwise
# start and stop its own); cleanup stops it if this run started it.
step "local cluster for the C and binding tests"
scripts/cluster.sh up

# The C suites (lifecycle stress and valgrind included) run on both mocks
# too; cluster.sh restarts its Kafka clusters on the library asked for.
# 2.0.2 goes last, so a cluster a person had running ends on Debian's
# librdkafka again.
step "C API tests and examples (librdkafka 2.16 mock)"
YK_MOCK_LIB="$(scripts/modern-mock-lib.sh)" scripts/c-tests.sh

step "C API tests and examples (librdkafka 2.0.2 mock)"
scripts/c-tests.sh

step "Go, Ruby and C++ bindings; make install and pkg-config"
scripts/bindings-tests.sh
