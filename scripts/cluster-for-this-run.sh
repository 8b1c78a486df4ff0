# scripts/cluster-for-this-run.sh, sourced by the scripts whose tests need
# the local cluster (scripts/test.sh, scripts/c-tests.sh,
# scripts/bindings-tests.sh): each stops a cluster it started and leaves
# alone one that was running (a person's, or scripts/test.sh's for all the
# suites).
cluster_sh="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster.sh"

# cluster_running: whether the local cluster's ZooKeeper runs.
cluster_running() {
    # grep reads the whole status: with -q it could leave early, and the
    # status command's SIGPIPE would fail the pipeline under pipefail.
    "$cluster_sh" status 2>/dev/null | grep '^zookeeper running' >/dev/null
}

# cluster_up_for_this_run: `scripts/cluster.sh up`; when no cluster was
# running before, the one started here is stopped when the calling script
# exits, whether its tests passed or failed. Sets the caller's EXIT trap.
cluster_up_for_this_run() {
    if ! cluster_running; then
        trap '"$cluster_sh" down >/dev/null 2>&1 || true' EXIT
    fi
    "$cluster_sh" up
}
