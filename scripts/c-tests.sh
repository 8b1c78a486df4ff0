#!/usr/bin/env bash
# The C side of the library, end to end:
#   1. cargo build --release (libyelp_kafka.a/.so, include/yelp_kafka.h);
#   2. every tests-c/*_test.c with AddressSanitizer + UBSan, linked
#      statically so the sanitizers see the library's allocations (and
#      with -Wl,--gc-sections, as docs/installing.md links it); the
#      examples against the shared library (rpath);
#   3. tests-c/check_exports.sh (header, exports and tests agree);
#   4. the local cluster (scripts/cluster.sh up; stopped at the end if this
#      script started it), then every C test and the examples against it;
#   5. scripts/valgrind-examples.sh: memcheck over the examples.
# Build outputs go to target/c/. Exits non-zero on the first failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/target/c"
mkdir -p "$out"

step() { printf '\n== %s (at %d:%02d)\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

step "cargo build --release"
cargo build --release
static_lib="$root/target/release/libyelp_kafka.a"
shared_dir="$root/target/release"

CC="${CC:-gcc}"
warnings=(-std=c11 -Wall -Wextra -Werror)
sanitizers=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

step "compile tests-c/*_test.c (ASan + UBSan, static library)"
tests=()
for source in tests-c/*_test.c; do
    name="$(basename "$source" .c)"
    # librdkafka_* tests link Debian's librdkafka into the same program.
    peer=()
    if [[ "$name" == librdkafka_* ]]; then
        read -ra peer <<<"$(pkg-config --cflags --libs rdkafka)"
    fi
    "$CC" "${warnings[@]}" "${sanitizers[@]}" -g -O1 -I"$root/include" -I"$root/tests-c" \
        "$source" "$static_lib" "${peer[@]}" -lzstd -lpthread -ldl -lm -Wl,--gc-sections -o "$out/$name"
    tests+=("$name")
done
echo "built: ${tests[*]}"

step "compile examples-c (shared library)"
examples=()
for source in examples-c/*.c; do
    name="$(basename "$source" .c)"
    "$CC" "${warnings[@]}" -g -O2 -I"$root/include" "$source" \
        -L"$shared_dir" -lyelp_kafka -Wl,-rpath,"$shared_dir" -o "$out/$name"
    examples+=("$name")
done
echo "built: ${examples[*]}"

step "tests-c/check_exports.sh"
tests-c/check_exports.sh

step "local cluster"
# shellcheck source=scripts/cluster-for-this-run.sh
source "$root/scripts/cluster-for-this-run.sh"
cluster_up_for_this_run
# shellcheck source=/dev/null
source "$root/target/cluster/env"

# Leak detection stays on. Suppressions, if any are ever needed, live in
# tests-c/lsan.supp with the reason for each.
lsan_options="report_objects=1"
if [[ -f tests-c/lsan.supp ]]; then
    lsan_options+=":suppressions=$root/tests-c/lsan.supp"
fi
for name in "${tests[@]}"; do
    step "$name"
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1" \
        LSAN_OPTIONS="$lsan_options" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
        "$out/$name"
done

step "examples-c/discovery"
expected="cluster1: mytopic partitions [0, 1, 2]
cluster1: xmytopic partitions [0, 1]
cluster2: team.mytopic partitions [0, 1, 2, 3]"
actual="$("$out/discovery")"
echo "$actual"
if [[ "$actual" != "$expected" ]]; then
    printf 'discovery printed something else; expected:\n%s\n' "$expected" >&2
    exit 1
fi
# Arguments override the environment; a bad broker list is reported and fails.
[[ "$("$out/discovery" "$YK_KAFKA1" "$YK_KAFKA2")" == "$expected" ]] || {
    echo "discovery with arguments printed something else" >&2
    exit 1
}
if error="$("$out/discovery" not-a-broker "$YK_KAFKA2" 2>&1)"; then
    echo "discovery succeeded with a bad broker list" >&2
    exit 1
fi
[[ "$error" == *ConfigurationError*not-a-broker* ]] || {
    echo "discovery did not explain the bad broker list: $error" >&2
    exit 1
}

step "examples-c/producer"
"$out/producer" "$YK_KAFKA1" mytopic

step "examples-c/consumer"
# Reads every partition of the topics ending in "mytopic" as group
# consumer-example, commits on close, and reports the group's lag: 0 for
# every partition afterwards.
summary="$("$out/consumer")"
echo "$summary"
if [[ -z "$summary" ]] || grep -qv ', lag 0$' <<<"$summary"; then
    echo "the consumer example left lag behind or printed nothing" >&2
    exit 1
fi

step "examples-c/event_loop"
# A producer and a consumer in one poll(2) loop over their ready
# descriptors: every report and every message comes back.
output="$("$out/event_loop" "$YK_KAFKA1" mytopic 100)"
echo "$output"
grep -q '^delivered 100, consumed 100 ' <<<"$output" || { echo "the event loop example lost messages" >&2; exit 1; }

step "examples-c/callback_group"
# Processes five messages of mytopic, then stops itself from its callback.
run_id="$$-$(date +%s)"
output="$("$out/callback_group" "$YK_KAFKA1" "$YK_ZOOKEEPER/yk-example-$run_id" mytopic "callback-$run_id" 5)"
echo "$output" | tail -n 2
grep -q '^processed 5 messages$' <<<"$output" || { echo "the callback group example did not process 5 messages" >&2; exit 1; }

step "examples-c/multiprocessing_group"
# Two worker processes for xmytopic's two partitions, for four seconds.
output="$("$out/multiprocessing_group" "$out/multiprocessing_worker" "$YK_KAFKA1" \
    "$YK_ZOOKEEPER/yk-example-$run_id" xmytopic "multiprocessing-$run_id" 4)"
grep '^2 workers' <<<"$output" | tail -n 1
grep -q '^2 workers: xmytopic-0 .*xmytopic-1 ' <<<"$output" || {
    echo "the multiprocessing example did not run a worker per partition" >&2
    exit 1
}

step "scripts/valgrind-examples.sh"
scripts/valgrind-examples.sh

step "C tests passed"
