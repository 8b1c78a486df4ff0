# bench/mock-cluster.sh, sourced by bench/parts/*.sh: start_mock_cluster NAME
# ARGS... runs one librdkafka mock cluster (target/tools/mock_cluster ARGS)
# for the rest of the calling script and sets $bootstrap. The launcher exits
# when the script's end of its FIFO closes, at the latest on exit
# (stop_mock_cluster, which a part that sets its own EXIT trap calls there).
start_mock_cluster() {
    local name="$1"
    shift
    local fifo="$out/$name-mock.cmd" log="$out/$name-mock.out"
    rm -f "$fifo"
    mkfifo "$fifo"
    target/tools/mock_cluster "$@" <"$fifo" >"$log" 2>&1 &
    mock_pid=$!
    exec 3>"$fifo"
    trap stop_mock_cluster EXIT
    for _ in $(seq 100); do
        grep -q '^BOOTSTRAP ' "$log" && break
        sleep 0.05
    done
    bootstrap="$(sed -n 's/^BOOTSTRAP //p' "$log")"
    [[ -n "$bootstrap" ]] || { echo "mock cluster did not start" >&2; exit 1; }
}

stop_mock_cluster() {
    exec 3>&-
    kill "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
}
