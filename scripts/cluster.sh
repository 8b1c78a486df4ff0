#!/usr/bin/env bash
# A long-running local test cluster for people and the C examples:
# ZooKeeper on 127.0.0.1:2181 and two 3-broker mock Kafka clusters with demo
# topics. Owns target/cluster/ (zk/, kafkaN.pid, kafkaN.cmd FIFO, kafkaN.log,
# env).
#   cluster.sh up        start what is not running yet, write target/cluster/env;
#                        with YK_MOCK_LIB=/path/librdkafka*.so* the Kafka
#                        clusters run on that librdkafka (e.g. the 2.16 of
#                        scripts/modern-mock-lib.sh); clusters running on
#                        another one are restarted on it
#   cluster.sh down      stop everything started by up
#   cluster.sh status    show what runs
#   cluster.sh kafka N <command...>
#                        send a launcher command (docs/test-cluster.md) to
#                        Kafka cluster N and print its answer; the same as
#                        `echo "<command>" > target/cluster/kafkaN.cmd` and
#                        reading the answer at the end of kafkaN.log
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/target/cluster"
zk_port=2181
brokers=3
# Demo topics, "name:partitions", per Kafka cluster.
kafka_topics=(
    [1]="mytopic:3 xmytopic:2 other:1"
    [2]="team.mytopic:4 unrelated:2"
)

# True if the process runs. A zombie does not count: where PID 1 does not reap
# orphans, a stopped daemon stays a zombie and `kill -0` still succeeds.
running() {
    local state
    state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
    [[ -n "$state" && "$state" != Z ]]
}

alive() { [[ -f "$1" ]] && running "$(cat "$1")"; }

bootstrap_of() { sed -n 's/^BOOTSTRAP //p' "$dir/kafka$1.log" | head -n1; }

# The librdkafka the Kafka clusters run on: YK_MOCK_LIB's file, or "system"
# for Debian's. Recorded in $dir/kafka-lib by `up`.
wanted_lib() {
    if [[ -n "${YK_MOCK_LIB:-}" ]]; then
        realpath "$YK_MOCK_LIB"
    else
        echo system
    fi
}

# The launcher links librdkafka.so.1 by file name, so a directory holding
# that name as a link to YK_MOCK_LIB, put first on LD_LIBRARY_PATH, makes
# it load that library alone (docs/test-cluster.md). Sets launcher_env to
# the `env` words to run the launcher with.
set_launcher_env() {
    local lib libdir="$dir/mock-lib"
    lib="$(wanted_lib)"
    launcher_env=(env)
    if [[ "$lib" != system ]]; then
        mkdir -p "$libdir"
        ln -sfn "$lib" "$libdir/librdkafka.so.1"
        launcher_env+=("LD_LIBRARY_PATH=$libdir")
    fi
}

start_kafka() {
    local n="$1" pidf="$dir/kafka$1.pid" log="$dir/kafka$1.log"
    local fifo="$dir/kafka$1.cmd" args=() t pid
    if alive "$pidf"; then
        echo "kafka$n already running (pid $(cat "$pidf"), $(bootstrap_of "$n"))"
        return
    fi
    for t in ${kafka_topics[$n]}; do args+=(--topic "$t"); done
    rm -f "$fifo"
    mkfifo -m 600 "$fifo"
    # The launcher opens its FIFO read-write, so it holds a writer itself and
    # never sees EOF when an `echo > kafkaN.cmd` closes.
    set_launcher_env
    # Empty the log here, not in the background job's redirection: the wait
    # below must not read the BOOTSTRAP line of an earlier run.
    : >"$log"
    setsid "${launcher_env[@]}" "$launcher" --brokers "$brokers" "${args[@]}" <>"$fifo" >>"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$pidf"
    # Up to 30 s: the launcher starts in milliseconds, but once on a loaded
    # 2-core machine it took longer than the 10 s this wait used to allow.
    for _ in $(seq 600); do
        [[ -n "$(bootstrap_of "$n")" ]] && break
        running "$pid" || break
        sleep 0.05
    done
    if [[ -z "$(bootstrap_of "$n")" ]]; then
        echo "kafka$n did not start; log:" >&2
        cat "$log" >&2
        kill "$pid" 2>/dev/null || true
        rm -f "$pidf"
        exit 1
    fi
    echo "kafka$n on $(bootstrap_of "$n") (pid $pid, topics ${kafka_topics[$n]}, librdkafka $(kafka_cmd "$n" version | sed 's/^OK //'))"
}

stop_pid() {
    local name="$1" pidf="$2" pid
    if ! alive "$pidf"; then
        rm -f "$pidf"
        return
    fi
    pid="$(cat "$pidf")"
    kill "$pid"
    for _ in $(seq 100); do
        running "$pid" || break
        sleep 0.05
    done
    running "$pid" && kill -KILL "$pid"
    rm -f "$pidf"
    echo "$name stopped (pid $pid)"
}

# Sends one command line to Kafka cluster N and prints the answer.
kafka_cmd() {
    local n="$1" log="$dir/kafka$1.log" before
    shift
    alive "$dir/kafka$n.pid" || { echo "kafka$n is not running" >&2; exit 1; }
    before="$(wc -l <"$log")"
    echo "$*" >"$dir/kafka$n.cmd"
    for _ in $(seq 100); do
        if (($(wc -l <"$log") > before)); then
            tail -n +"$((before + 1))" "$log" | head -n1
            return
        fi
        sleep 0.05
    done
    echo "no answer from kafka$n" >&2
    exit 1
}

case "${1:-}" in
up)
    mkdir -p "$dir"
    launcher="$("$root/scripts/build-tools.sh")"
    "$root/scripts/zookeeper.sh" start "$dir/zk" "$zk_port"
    running_lib="$(cat "$dir/kafka-lib" 2>/dev/null || echo system)"
    if [[ "$running_lib" != "$(wanted_lib)" ]]; then
        echo "the Kafka clusters run on librdkafka $running_lib; restarting them on $(wanted_lib)"
        stop_pid kafka1 "$dir/kafka1.pid"
        stop_pid kafka2 "$dir/kafka2.pid"
    fi
    wanted_lib >"$dir/kafka-lib"
    start_kafka 1
    start_kafka 2
    cat >"$dir/env" <<ENV
export YK_ZOOKEEPER=127.0.0.1:$zk_port
export YK_KAFKA1=$(bootstrap_of 1)
export YK_KAFKA2=$(bootstrap_of 2)
export YK_CLUSTER_SH=$root/scripts/cluster.sh
ENV
    echo "wrote $dir/env (source it)"
    ;;
down)
    stop_pid kafka1 "$dir/kafka1.pid"
    stop_pid kafka2 "$dir/kafka2.pid"
    rm -f "$dir/kafka1.cmd" "$dir/kafka2.cmd" "$dir/env" "$dir/kafka-lib"
    [[ -d "$dir/zk" ]] && "$root/scripts/zookeeper.sh" stop "$dir/zk"
    ;;
status)
    "$root/scripts/zookeeper.sh" status "$dir/zk" 2>/dev/null || true
    for n in 1 2; do
        if alive "$dir/kafka$n.pid"; then
            echo "kafka$n running (pid $(cat "$dir/kafka$n.pid"), $(bootstrap_of "$n"), librdkafka $(cat "$dir/kafka-lib" 2>/dev/null))"
        else
            echo "kafka$n not running"
        fi
    done
    ;;
kafka)
    (($# >= 3)) || { echo "usage: $0 kafka 1|2 <command...>" >&2; exit 2; }
    shift
    kafka_cmd "$@"
    ;;
*)
    echo "usage: $0 up|down|status|kafka N <command...>" >&2
    exit 2
    ;;
esac
