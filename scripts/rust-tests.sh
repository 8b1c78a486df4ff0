#!/usr/bin/env bash
# The Rust tests on both mock clusters: the unit and integration tests
# against Debian's librdkafka 2.0.2 mock, and the integration tests again
# against the modern 2.16 mock of the confluent-kafka wheel, the two passes
# side by side. Needs YK_TEST_ZOOKEEPER (scripts/test.sh starts one
# ZooKeeper for every test process; each test takes its own chroot).
#
# The tests mostly wait on clusters and groups (the group tests took 8 CPU
# seconds in 132 s on two test threads), so each pass runs four tests at a
# time (RUST_TEST_THREADS overrides it). Each test starts its own mock
# cluster, so the passes share nothing but ZooKeeper. The 2.16 pass writes
# to target/rust-tests-2.16.log, shown when it ends; it runs in its own
# process group, stopped with this script however it exits.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n== %s (at %d:%02d)\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

: "${YK_TEST_ZOOKEEPER:?set YK_TEST_ZOOKEEPER to a ZooKeeper host:port (scripts/zookeeper.sh start)}"
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
modern_mock="$(scripts/modern-mock-lib.sh)"

step "build the tests"
cargo test --quiet --no-run

modern_log="$root/target/rust-tests-2.16.log"
modern_pid=""
stop_modern_pass() {
    [[ -z "$modern_pid" ]] || kill -TERM -- "-$modern_pid" 2>/dev/null || true
}
trap stop_modern_pass EXIT

step "librdkafka 2.0.2 mock, beside the integration tests on the 2.16 mock"
YK_MOCK_LIB="$modern_mock" setsid cargo test --quiet --tests >"$modern_log" 2>&1 &
modern_pid=$!
legacy_status=0
cargo test --quiet || legacy_status=$?
modern_status=0
wait "$modern_pid" || modern_status=$?
modern_pid=""

step "librdkafka 2.16 mock: the integration tests' output"
cat "$modern_log"
if ((legacy_status != 0 || modern_status != 0)); then
    echo "Rust tests failed: exit $legacy_status on the 2.0.2 mock, $modern_status on the 2.16 mock" >&2
    exit 1
fi
