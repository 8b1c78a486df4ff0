#!/usr/bin/env bash
# Installs what the test cluster and the interop peers need on Debian 12, as
# root: ZooKeeper (Java), librdkafka headers and mock cluster, kcat, a C
# toolchain, Go, Ruby and C++ for the bindings, Python kazoo, and the
# confluent-kafka wheel (its bundled modern librdkafka runs the second mock).
# Idempotent and offline-safe when everything is present: it asks apt/pip
# only for what is missing. One line per action.
set -euo pipefail

# slf4j-simple.jar (ZooKeeper's logger binding) comes from libslf4j-java;
# libc6-dev is only recommended by gcc, which we install without recommends;
# util-linux gives setpriv, used to tie ZooKeeper's life to the test process.
# The bindings (scripts/bindings-tests.sh): Go, Ruby with ffi, a C++
# compiler, and patchelf for the SONAME of `make install`.
debs=(zookeeper libslf4j-java librdkafka-dev kcat default-jre-headless
      pkg-config gcc libc6-dev make util-linux
      golang-go ruby ruby-ffi g++ patchelf libzstd-dev)
pips=(kazoo==2.10.0 confluent-kafka==2.16.1)

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

# The pinned distributions whose installed version differs (one python run).
missing_pips="$(python3 - "${pips[@]}" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        ok = version(name) == want
    except PackageNotFoundError:
        ok = False
    if not ok:
        print(pin)
PY
)"
if [[ -n "$missing_pips" ]]; then
    mapfile -t missing_pips <<<"$missing_pips"
    echo "pip install ${missing_pips[*]}"
    pip_args=(install -q --disable-pip-version-check --root-user-action=ignore "${missing_pips[@]}")
    # Debian's own python3 refuses pip installs outside a venv (PEP 668).
    python3 -m pip "${pip_args[@]}" 2>/dev/null ||
        python3 -m pip "${pip_args[@]}" --break-system-packages
fi
