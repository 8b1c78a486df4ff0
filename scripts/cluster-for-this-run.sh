# scripts/cluster-for-this-run.sh, sourced by the scripts whose tests need
# the local cluster (scripts/c-tests.sh, scripts/bindings-tests.sh).
#
# cluster_up_for_this_run: `scripts/cluster.sh up`; when no cluster was
# running before, the one started here is stopped when the calling script
# exits, whether its tests passed or failed. A cluster someone had running
# (a person's, or scripts/test.sh's for all the suites) is left alone.
# Sets the caller's EXIT trap.
cluster_sh="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster.sh"

cluster_up_for_this_run() {
    # grep reads the whole status: with -q it could leave early, and the
    # status command's SIGPIPE would fail the pipeline under pipefail.
    if ! "$cluster_sh" status 2>/dev/null | grep '^zookeeper running' >/dev/null; then
        trap '"$cluster_sh" down >/dev/null 2>&1 || true' EXIT
    fi
    "$cluster_sh" up
}
