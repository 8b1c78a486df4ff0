#!/usr/bin/env bash
# valgrind memcheck over the C examples (issue 12): built against the
# shared library without sanitizers, run on the local cluster, which must be
# up (scripts/cluster.sh up; scripts/c-tests.sh starts it). Fails on any
# memory error and on definite leaks; "possibly lost" and "still reachable"
# blocks are the Rust runtime's threads and thread-locals, alive at exit by
# design, and are not counted. No suppression file is needed.
#
# The group examples run with the arguments scripts/c-tests.sh and
# scripts/demo.sh give them, each process bounded by `timeout`. The
# multiprocessing group's worker processes run under memcheck too, through
# a wrapper given to the group as its worker program.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=/dev/null
source target/cluster/env
out="$root/target/valgrind"
mkdir -p "$out"

for name in discovery producer consumer event_loop consumer_group callback_group multiprocessing_group multiprocessing_worker; do
    gcc -std=c11 -Wall -Wextra -Werror -g -O1 -Iinclude "examples-c/$name.c" \
        -Ltarget/release -lyelp_kafka -Wl,-rpath,"$root/target/release" -lpthread -o "$out/$name"
done

flags=(--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite)
# Generous for valgrind's 20-40x slowdown; only a hang gets near it.
limit=180

# `timeout` puts the command in a process group of its own and signals that
# whole group, so a multiprocessing group's workers are stopped with it; -k
# kills what SIGTERM did not end.
memcheck() {
    printf '\n== valgrind %s\n' "$*" >&2
    timeout -k 10 "$limit" valgrind -q "${flags[@]}" "$@"
}

# On any exit, the background memchecks not waited for yet are stopped
# (timeout forwards the SIGTERM, see memcheck), so a failure leaves nothing
# running. They are this shell's only background jobs.
stop_background() {
    local pids
    pids="$(jobs -p)"
    if [[ -n "$pids" ]]; then
        # shellcheck disable=SC2086 # one pid a word
        kill $pids 2>/dev/null || true
    fi
    wait
}
trap stop_background EXIT

# memcheck in the background, output in LOG; $! is its pid. timeout is
# started from this shell so that the job is timeout itself: `memcheck &`
# would be a subshell, and killing that would leave timeout and valgrind
# running.
declare -A started_at
start_memcheck() {
    local log="$1"
    shift
    printf '== valgrind %s\n' "$*" >"$log"
    timeout -k 10 "$limit" valgrind -q "${flags[@]}" "$@" >>"$log" 2>&1 &
    started_at[$!]=$SECONDS
}

# Waits for a background memcheck; on failure shows its output and fails.
finish() {
    local pid="$1" log="$2"
    wait "$pid" || {
        echo "valgrind run failed (exit $?); its output ($log):" >&2
        cat "$log" >&2
        exit 1
    }
    echo "$(basename "$log" .log): clean after $((SECONDS - started_at[$pid])) s"
}

memcheck "$out/discovery" >/dev/null
memcheck "$out/producer" "$YK_KAFKA1" mytopic >/dev/null
memcheck "$out/consumer" >/dev/null
memcheck "$out/event_loop" "$YK_KAFKA1" mytopic 50 >/dev/null

run_id="$$-$(date +%s)"
zookeeper="$YK_ZOOKEEPER/yk-valgrind-$run_id"

# The callback group's example has no cooldown option, so it waits out the
# default 30 s (docs/consumer-groups.md) before its first allocation: it
# runs in the background, mostly idle, while the other two groups run one
# after the other (run together, they starved each other of the two cores
# and the workers saw no message within the group's run).
callback_log="$out/callback_group.log"
start_memcheck "$callback_log" "$out/callback_group" "$YK_KAFKA1" "$zookeeper" mytopic "callback-$run_id" 5
callback_pid=$!

# Messages for the workers to process (the producer itself was checked above).
"$out/producer" "$YK_KAFKA1" xmytopic >/dev/null
rm -rf "$out/workers"
mkdir -p "$out/workers"
# The group runs its worker program without arguments: this wrapper is it.
# exec keeps the pid, so the group's SIGTERM reaches the worker. Each worker
# logs to its own file, checked below.
worker="$out/multiprocessing_worker.memcheck"
printf '#!/usr/bin/env bash\nexec valgrind %s --log-file=%q %q\n' "${flags[*]}" "$out/workers/%p.log" \
    "$out/multiprocessing_worker" >"$worker"
chmod +x "$worker"
# Two workers for xmytopic's two partitions, as in scripts/c-tests.sh, for
# 30 s: under valgrind a worker's first message comes about 5 s after the
# group starts it, and on a loaded machine more than 15 s later (a 15 s
# run once saw no message). The run ends by itself: a SIGTERM from here
# would go through timeout to the whole process group, workers included.
multiprocessing_log="$out/multiprocessing_group.log"
start_memcheck "$multiprocessing_log" "$out/multiprocessing_group" "$worker" "$YK_KAFKA1" "$zookeeper" xmytopic \
    "multiprocessing-$run_id" 30
multiprocessing_pid=$!
finish "$multiprocessing_pid" "$multiprocessing_log"
grep '^2 workers' "$multiprocessing_log" | tail -n 1
grep -q '^2 workers: xmytopic-0 .*xmytopic-1 ' "$multiprocessing_log" || {
    echo "the multiprocessing example did not run a worker per partition under valgrind" >&2
    exit 1
}
logs=("$out"/workers/*.log)
for log in "${logs[@]}"; do
    # Without -q every worker that exited ends its log with this summary; a
    # worker killed before its leak check has none and fails here too.
    grep -q 'ERROR SUMMARY: 0 errors' "$log" || {
        echo "a multiprocessing worker failed under valgrind ($log):" >&2
        cat "$log" >&2
        exit 1
    }
done
processed="$(grep -c '^worker [0-9]*: xmytopic ' "$multiprocessing_log" || true)"
echo "multiprocessing_worker: ${#logs[@]} worker processes clean, $processed messages"
((processed > 0)) || { echo "the multiprocessing workers processed nothing" >&2; exit 1; }

# Two members of one group split mytopic's three partitions (as in
# scripts/demo.sh), reading what the producer wrote, and stop after 6 s
# without a message.
declare -A members
for member in a b; do
    YK_EXAMPLE_IDLE_EXIT=6 start_memcheck "$out/consumer_group-$member.log" "$out/consumer_group" "$YK_KAFKA1" \
        "$zookeeper" mytopic "group-$run_id" partitioner_cooldown=1 auto_offset_reset=smallest
    members[$member]=$!
done
for member in a b; do
    finish "${members[$member]}" "$out/consumer_group-$member.log"
    # A share of one or two of the three partitions: the member ran in a
    # balanced group, not alone.
    grep -Eq '^acquired mytopic-[0-9]( mytopic-[0-9])?$' "$out/consumer_group-$member.log" || {
        echo "consumer_group member $member never held a share of mytopic; log in $out" >&2
        exit 1
    }
done
consumed="$(cat "$out"/consumer_group-?.log | grep -c '^MSG' || true)"
echo "consumer_group: two members, $consumed messages"
((consumed > 0)) || { echo "the consumer_group members consumed nothing" >&2; exit 1; }

finish "$callback_pid" "$callback_log"
tail -n 1 "$callback_log"
grep -q '^processed 5 messages$' "$callback_log" || {
    echo "the callback group example did not process 5 messages under valgrind" >&2
    exit 1
}
echo "valgrind: no errors, no definite leaks"
