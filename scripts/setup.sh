#!/usr/bin/env bash
# Installs what the test cluster and the interop peers need on Debian 12, as
# root: ZooKeeper (Java), librdkafka headers and mock cluster, kcat, a C
# toolchain, and Python kazoo. Idempotent and offline-safe when everything is
# present: it asks apt/pip only for what is missing. One line per action.
set -euo pipefail

# slf4j-simple.jar (ZooKeeper's logger binding) comes from libslf4j-java;
# util-linux gives setpriv, used to tie ZooKeeper's life to the test process.
debs=(zookeeper libslf4j-java librdkafka-dev kcat default-jre-headless
      pkg-config gcc make util-linux)
kazoo_version=2.10.0

have_deb() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

missing=()
for d in "${debs[@]}"; do
    have_deb "$d" || missing+=("$d")
done
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)

if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    echo "apt-get update"
    apt-get update -qq
    echo "apt-get install ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

installed_kazoo="$(python3 -c 'import kazoo.version; print(kazoo.version.__version__)' 2>/dev/null || true)"
if [[ "$installed_kazoo" != "$kazoo_version" ]]; then
    echo "pip install kazoo==$kazoo_version"
    pip_args=(install -q --disable-pip-version-check "kazoo==$kazoo_version")
    # Debian's own python3 refuses pip installs outside a venv (PEP 668).
    python3 -m pip "${pip_args[@]}" 2>/dev/null ||
        python3 -m pip "${pip_args[@]}" --break-system-packages
fi
