#!/usr/bin/env bash
# Runs a standalone ZooKeeper for tests from Debian's zookeeper package.
#   zookeeper.sh start  <dir> <port>  write <dir>/zoo.cfg, start in background,
#                                     wait until it answers ruok (20 s max)
#   zookeeper.sh stop   <dir> [port]  stop the one started in <dir>, wait
#   zookeeper.sh status <dir> [port]  say whether it runs (exit 1 if not)
#   zookeeper.sh run    <dir> <port>  write zoo.cfg and exec ZooKeeper in the
#                                     foreground (for tests/support, which
#                                     spawns it under setpriv --pdeathsig)
# Owns <dir>: zoo.cfg, data/, zookeeper.log, zookeeper.pid. Listens on
# 127.0.0.1 only.
set -euo pipefail

usage() { echo "usage: $0 start|stop|status|run <dir> <port>" >&2; exit 2; }
(($# >= 2)) || usage
cmd="$1"
dir="$2"
port="${3:-}"

java_dir=/usr/share/java
jars=(zookeeper zookeeper-jute slf4j-api slf4j-simple netty-handler
      netty-common netty-buffer netty-transport netty-codec netty-resolver
      netty-transport-native-epoll netty-transport-native-unix-common
      metrics-core commons-cli commons-io snappy-java)

classpath() {
    local cp="" j
    for j in "${jars[@]}"; do
        [[ -f "$java_dir/$j.jar" ]] || { echo "missing $java_dir/$j.jar (run scripts/setup.sh)" >&2; exit 1; }
        cp+="${cp:+:}$java_dir/$j.jar"
    done
    echo "$cp"
}

# Prints "imok" if a ZooKeeper answers on port $1 within $2 seconds (1).
ruok() {
    # shellcheck disable=SC2016 # the inner bash expands them
    timeout "${2:-1}" bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf ruok >&3
        IFS= read -r -t "$2" reply <&3 || true
        printf %s "$reply"' _ "$1" "${2:-1}" 2>/dev/null || true
}

write_config() {
    [[ "$port" =~ ^[0-9]+$ ]] || usage
    mkdir -p "$dir/data"
    dir="$(cd "$dir" && pwd)"
    cat >"$dir/zoo.cfg" <<CFG
# Written by scripts/zookeeper.sh: a standalone test server.
tickTime=500
minSessionTimeout=1000
maxSessionTimeout=120000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,stat,srvr
# Every test client comes from 127.0.0.1: no per-address connection cap.
maxClientCnxns=0
# Test data need not survive a crash: skip fsync.
forceSync=no
CFG
}

# True if the process runs. A zombie does not count: where PID 1 does not reap
# orphans, a stopped daemon stays a zombie and `kill -0` still succeeds.
running() {
    local state
    state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
    [[ -n "$state" && "$state" != Z ]]
}

pid_alive() {
    local pid
    [[ -f "$dir/zookeeper.pid" ]] || return 1
    pid="$(cat "$dir/zookeeper.pid")"
    [[ -n "$pid" ]] && running "$pid"
}

case "$cmd" in
run)
    write_config
    cp="$(classpath)"
    # Small heap and the C1 compiler only: it starts faster.
    exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$cp" \
        org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg"
    ;;
start)
    if pid_alive; then
        echo "zookeeper already running (pid $(cat "$dir/zookeeper.pid"))"
        exit 0
    fi
    write_config
    cp="$(classpath)"
    if [[ "$(ruok "$port")" == imok ]]; then
        echo "port $port already serves a ZooKeeper not started from $dir" >&2
        exit 1
    fi
    started=$(date +%s%N)
    setsid java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$cp" \
        org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
        </dev/null >"$dir/zookeeper.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/zookeeper.pid"
    deadline=$((SECONDS + 20))
    # A connection accepted while the server is still starting can stay
    # unanswered: give each attempt little time.
    until [[ "$(ruok "$port" 0.3)" == imok ]]; do
        if ! running "$pid" || ((SECONDS >= deadline)); then
            echo "zookeeper did not come up on 127.0.0.1:$port; log:" >&2
            cat "$dir/zookeeper.log" >&2
            kill "$pid" 2>/dev/null || true
            rm -f "$dir/zookeeper.pid"
            exit 1
        fi
        sleep 0.05
    done
    echo "zookeeper on 127.0.0.1:$port (pid $pid, ready in $((($(date +%s%N) - started) / 1000000)) ms)"
    ;;
stop)
    if ! pid_alive; then
        echo "zookeeper not running"
        rm -f "$dir/zookeeper.pid"
        exit 0
    fi
    pid="$(cat "$dir/zookeeper.pid")"
    kill "$pid"
    for _ in $(seq 200); do
        running "$pid" || break
        sleep 0.05
    done
    running "$pid" && kill -KILL "$pid"
    rm -f "$dir/zookeeper.pid"
    echo "zookeeper stopped (pid $pid)"
    ;;
status)
    if pid_alive; then
        port="${port:-$(sed -n 's/^clientPort=//p' "$dir/zoo.cfg")}"
        echo "zookeeper running (pid $(cat "$dir/zookeeper.pid"), 127.0.0.1:$port, ruok: $(ruok "$port"))"
    else
        echo "zookeeper not running"
        exit 1
    fi
    ;;
*) usage ;;
esac
